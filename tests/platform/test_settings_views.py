"""Settings, record_view and activity against a real PostgreSQL; parse_setting unit tests."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.platform import (
    InvalidSetting,
    RecordNotFound,
    activity,
    create_record,
    get_settings,
    merge_records,
    record_view,
    set_setting,
    update_record,
)
from hubsync.platform.settings import parse_setting, settings_rows
from tests.platform.helpers import pull


@pytest.mark.parametrize(
    ("key", "value", "parsed"),
    [
        ("push.enabled", "FALSE", False),
        ("push.enabled", "yes", True),
        ("push.scope", "Manual", "manual"),
        ("mapping.contact.jobtitle", "overwrite", "overwrite"),
        ("mapping.account.custom_score", "none", "none"),
    ],
)
def test_parse_setting(key: str, value: str, parsed: object) -> None:
    assert parse_setting(key, value) == (key, parsed)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("push.enabled", "maybe", "true or false"),
        ("push.scope", "some", "all or manual"),
        ("mapping.deal.name", "none", "mapping.contact.PROPERTY"),
        ("mapping.contact.Job Title", "none", "not a HubSpot property name"),
        ("mapping.contact.jobtitle", "always", "none, autofill or overwrite"),
        ("push.speed", "1", "unknown setting"),
        ("mapping.contact", "none", "unknown setting"),
    ],
)
def test_parse_setting_refuses_bad_keys_and_values(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        parse_setting(key, value)


@pytest.mark.integration
def test_settings_round_trip(conn: psycopg.Connection[Any]) -> None:
    settings = get_settings(conn)
    assert settings.to_json()["push.enabled"] is True and settings.to_json()["push.scope"] == "all"
    assert settings.to_json()["mappings"]["account"]["numberofemployees"]["mode"] == "overwrite"
    set_setting(conn, "push.enabled", "off")
    set_setting(conn, "push.scope", "manual")
    set_setting(conn, "mapping.contact.jobtitle", "overwrite")
    after = set_setting(conn, "mapping.account.annualrevenue", "autofill").to_json()
    assert (after["push.enabled"], after["push.scope"]) == (False, "manual")
    assert after["mappings"]["contact"]["jobtitle"] == {"mode": "overwrite", "platform_field": "jobtitle"}
    assert after["mappings"]["account"]["annualrevenue"] == {
        "mode": "autofill",
        "platform_field": "annualrevenue",
    }
    rows = settings_rows(get_settings(conn))
    assert rows["push.enabled"] == "false" and rows["mapping.account.annualrevenue"] == "autofill"
    with pytest.raises(InvalidSetting):
        set_setting(conn, "push.scope", "nobody")
    assert get_settings(conn).to_json()["push.scope"] == "manual"
    # a newly mapped field is pushed from now on
    rid = create_record(conn, "account", {"name": "Acme", "annualrevenue": "1e6"})
    payload = conn.execute(
        "SELECT payload FROM hubsync.outbox WHERE aggregateid = %s", (str(rid),)
    ).fetchone()
    assert payload is not None and payload[0]["changed_fields"]["annualrevenue"] == "1000000"


@pytest.mark.integration
def test_record_view_shows_status_duplicates_links_and_merges(conn: psycopg.Connection[Any]) -> None:
    mirrored = pull(conn, "901", {"email": "jane@acme.com", "firstname": "Jane"})
    rid = create_record(conn, "contact", {"email": "jane@acme.com", "lastname": "Doe"})
    view = record_view(conn, rid)
    assert view["object_type"] == "contact" and view["crm_status"] == "not_linked"
    assert view["creation_source"] == "platform" and view["hubspot_id"] is None
    assert view["properties"] == {"email": "jane@acme.com", "lastname": "Doe"}
    assert view["duplicates"] == [{"record_id": mirrored, "signal": "email"}]
    assert view["accounts"] == [] and view["deleted_in_platform"] is False
    hub = record_view(conn, mirrored)
    assert (
        hub["hubspot_id"] == "901" and hub["crm_status"] == "synced" and hub["creation_source"] == "hubspot"
    )
    merge_records(conn, mirrored, rid)
    assert record_view(conn, mirrored)["merged_records"] == [rid]
    assert record_view(conn, rid)["merged_into_id"] == mirrored

    account = create_record(conn, "account", {"name": "Acme"})
    conn.execute(
        "INSERT INTO hubsync.contact_account_links (contact_id, account_id, is_primary) VALUES (%s, %s, true)",
        (mirrored, account),
    )
    assert [(a["id"], a["is_primary"]) for a in record_view(conn, mirrored)["accounts"]] == [(account, True)]
    assert [c["id"] for c in record_view(conn, account)["contacts"]] == [mirrored]
    with pytest.raises(RecordNotFound):
        record_view(conn, 999_999)


@pytest.mark.integration
def test_activity_is_newest_first(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", {"email": "a@b.com"})
    update_record(conn, rid, {"jobtitle": "CTO"})
    update_record(conn, rid, {"jobtitle": "CEO"})
    rows = activity(conn, rid)
    assert [(r["action"], r["after"]) for r in rows] == [
        ("updated", "CEO"),
        ("updated", "CTO"),
        ("created_in_platform", {"email": "a@b.com"}),
    ]
    assert len(activity(conn, rid, limit=1)) == 1
    with pytest.raises(RecordNotFound):
        activity(conn, 999_999)


INJECTIONS = [
    "mapping.contact.jobtitle'; DROP TABLE hubsync.field_mappings; --",
    'mapping.contact.x"); DELETE FROM hubsync.settings; --',
    "push.enabled; TRUNCATE hubsync.outbox",
    "mapping.contact.\x00jobtitle",
]


@given(key=st.one_of(st.text(max_size=80), st.sampled_from(INJECTIONS)), value=st.text(max_size=40))
@settings(max_examples=300)
def test_any_setting_input_is_parsed_or_refused_clearly(key: str, value: str) -> None:
    """Whatever is typed: a parsed setting whose names are plain identifiers, or InvalidSetting."""
    try:
        parsed_key, _ = parse_setting(key, value)
    except InvalidSetting:
        return
    assert re.fullmatch(r"push\.(enabled|scope)|mapping\.(contact|account)\.[a-z][a-z0-9_]*", parsed_key)


@pytest.mark.integration
@pytest.mark.parametrize("key", INJECTIONS)
def test_a_setting_named_to_inject_sql_changes_nothing(conn: psycopg.Connection[Any], key: str) -> None:
    before = get_settings(conn).to_json()
    with pytest.raises(InvalidSetting):
        set_setting(conn, key, "autofill")
    assert get_settings(conn).to_json() == before
    assert conn.execute("SELECT count(*) FROM hubsync.field_mappings").fetchone() != (0,)
