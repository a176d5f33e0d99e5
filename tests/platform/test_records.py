"""create_record / update_record / delete_record against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from hubsync.matching.duplicates import duplicates_of
from hubsync.platform import (
    InvalidField,
    InvalidFieldValue,
    RecordNotFound,
    RecordNotWritable,
    create_record,
    delete_record,
    update_record,
)
from tests.platform.conftest import activities, outbox, rows
from tests.platform.helpers import pull

pytestmark = pytest.mark.integration

JANE = {
    "email": "Jane.Doe@Acme.com",
    "firstname": "Jane",
    "lastname": "Doe",
    "company": "Acme",
    "jobtitle": "CTO",
}


def counts(conn: psycopg.Connection[Any]) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM hubsync.contacts), (SELECT count(*) FROM hubsync.accounts),"
        " (SELECT count(*) FROM hubsync.outbox), (SELECT count(*) FROM hubsync.activity_log),"
        " (SELECT count(*) FROM hubsync.contact_emails)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_create_contact_writes_record_keys_activity_and_outbox(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", {**JANE, "notes": "met at a fair", "phone": ""})
    [record] = rows(conn, "SELECT * FROM hubsync.contacts WHERE id = %s", rid)
    assert record["creation_source"] == "platform" and record["crm_status"] == "not_linked"
    assert record["hubspot_id"] is None
    assert record["properties"] == {**JANE, "notes": "met at a fair"}
    assert {v["rule"] for v in record["property_versions"].values()} == {"platform"}
    assert set(record["property_versions"]) == set(record["properties"])
    assert (record["email"], record["first_name"], record["last_name"], record["company_name"]) == (
        "Jane.Doe@Acme.com",
        "Jane",
        "Doe",
        "Acme",
    )
    assert record["name_normalized"] == "jane doe" and record["company_domain_root"] == "acme.com"
    assert rows(
        conn, "SELECT email_normalized, is_primary FROM hubsync.contact_emails WHERE contact_id = %s", rid
    ) == [{"email_normalized": "jane.doe@acme.com", "is_primary": True}]
    [created] = activities(conn, rid)
    assert created["action"] == "created_in_platform" and created["rule"] == "platform"
    assert created["after"] == record["properties"] and created["detail"]["unmapped"] == ["notes"]
    [row] = outbox(conn, rid)
    assert (row["aggregatetype"], row["type"]) == ("contact", "CREATED")
    payload = row["payload"]
    # unmapped fields never sync; empty ones are not sent
    assert payload["changed_fields"] == JANE
    assert payload["field_rules"] == dict.fromkeys(JANE, "platform")
    assert set(payload["field_timestamps"]) == set(JANE)
    assert payload["hubspot_id"] is None and payload["manual"] is False
    assert created["cause_event"] == str(row["id"])


def test_create_account_converts_values_and_can_be_an_import(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(
        conn,
        "account",
        {
            "name": "Acme Inc.",
            "domain": "www.acme.co.uk",
            "industry": "computer software",
            "numberofemployees": "250.0",
        },
        source="import",
        manual=True,
    )
    [record] = rows(conn, "SELECT * FROM hubsync.accounts WHERE id = %s", rid)
    assert record["creation_source"] == "import"
    assert record["domain_root"] == "acme.co.uk" and record["name_normalized"] == "acme"
    assert record["properties"]["industry"] == "COMPUTER_SOFTWARE"
    assert record["properties"]["numberofemployees"] == "250"
    [row] = outbox(conn, rid)
    assert row["aggregatetype"] == "account" and row["payload"]["manual"] is True
    assert row["payload"]["changed_fields"]["numberofemployees"] == "250"


@pytest.mark.parametrize(
    ("kind", "fields", "error"),
    [
        ("account", {"name": "Acme", "numberofemployees": "many"}, InvalidFieldValue),
        ("account", {"name": "Acme", "industry": "Space piracy"}, InvalidFieldValue),
        ("contact", {"Email": "x@y.com"}, InvalidField),
        ("contact", {"hubsync_record_id": "5"}, InvalidField),
        ("contact", {}, InvalidField),
        ("contact", {"email": ""}, InvalidField),
        ("deal", {"name": "x"}, ValueError),
    ],
)
def test_bad_input_writes_nothing(
    conn: psycopg.Connection[Any], kind: str, fields: dict[str, str], error: type[Exception]
) -> None:
    before = counts(conn)
    with pytest.raises(error):
        create_record(conn, kind, fields)
    assert counts(conn) == before


def test_unknown_creation_source_is_refused(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(InvalidField, match="creation source"):
        create_record(conn, "contact", JANE, source="hubspot")
    assert counts(conn) == (0, 0, 0, 0, 0)


def test_a_platform_contact_duplicating_a_hubspot_contact_is_flagged(conn: psycopg.Connection[Any]) -> None:
    mirrored = pull(conn, "901", {"email": "jane.doe@acme.com", "firstname": "Jane", "lastname": "Doe"})
    rid = create_record(conn, "contact", {"email": "JANE.DOE@acme.com", "firstname": "J"})
    assert duplicates_of(conn, "contact", rid) == [(mirrored, "email")]
    assert duplicates_of(conn, "contact", mirrored) == [(rid, "email")]
    flagged = [a for a in activities(conn, rid) if a["action"] == "flagged_duplicate"]
    assert [a["detail"] for a in flagged] == [{"duplicate_of": mirrored, "signal": "email"}]
    # the platform record is not in HubSpot: pushing it is still the push path's decision
    assert outbox(conn, rid)[0]["type"] == "CREATED"


def test_a_platform_account_duplicating_a_hubspot_company_is_flagged(conn: psycopg.Connection[Any]) -> None:
    mirrored = pull(conn, "77", {"name": "Globex", "domain": "globex.com"}, company=True)
    rid = create_record(conn, "account", {"name": "Globex Corporation", "domain": "https://www.globex.com/"})
    assert (mirrored, "domain") in duplicates_of(conn, "account", rid)


def test_update_pushes_only_changed_mapped_fields(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", {**JANE, "notes": "a"})
    result = update_record(conn, rid, {"jobtitle": "CEO", "firstname": "Jane", "notes": "b", "city": "Oslo"})
    assert result.changed == {"jobtitle": ("CTO", "CEO"), "notes": ("a", "b"), "city": (None, "Oslo")}
    _created, updated = outbox(conn, rid)
    assert updated["type"] == "UPDATED" and updated["id"] == result.outbox_id
    assert updated["payload"]["changed_fields"] == {"jobtitle": "CEO", "city": "Oslo"}
    assert updated["payload"]["field_rules"] == {"jobtitle": "platform", "city": "platform"}
    logged = [
        (a["field"], a["before"], a["after"], a["rule"])
        for a in activities(conn, rid)
        if a["action"] == "updated"
    ]
    assert logged == [
        ("jobtitle", "CTO", "CEO", "platform"),
        ("notes", "a", "b", "platform"),
        ("city", None, "Oslo", "platform"),
    ]
    [record] = rows(conn, "SELECT properties, property_versions FROM hubsync.contacts WHERE id = %s", rid)
    assert record["properties"]["jobtitle"] == "CEO"
    version = record["property_versions"]["jobtitle"]
    assert version["rule"] == "platform" and version["over"] is not None


def test_unmapped_or_unchanged_fields_produce_no_outbox_row(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", JANE)
    assert update_record(conn, rid, {"notes": "private"}).outbox_id is None
    nothing = update_record(conn, rid, {"jobtitle": "CTO"})
    assert nothing.changed == {} and nothing.outbox_id is None
    assert [r["type"] for r in outbox(conn, rid)] == ["CREATED"]
    assert [a["field"] for a in activities(conn, rid) if a["action"] == "updated"] == ["notes"]


def test_clearing_a_field_sends_null(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", JANE)
    update_record(conn, rid, {"jobtitle": ""})
    assert outbox(conn, rid)[-1]["payload"]["changed_fields"] == {"jobtitle": None}


def test_update_of_a_linked_record_names_its_hubspot_id(conn: psycopg.Connection[Any]) -> None:
    rid = pull(conn, "555", {"email": "bob@globex.com", "firstname": "Bob"})
    update_record(conn, rid, {"firstname": "Robert"})
    [row] = outbox(conn, rid)
    assert row["payload"]["hubspot_id"] == "555" and row["payload"]["changed_fields"] == {
        "firstname": "Robert"
    }


def test_changing_the_email_moves_the_keys_and_the_duplicate_pairs(conn: psycopg.Connection[Any]) -> None:
    mirrored = pull(conn, "901", {"email": "jane@acme.com"})
    other = pull(conn, "902", {"email": "jane@initech.com"})
    rid = create_record(conn, "contact", {"email": "jane@acme.com"})
    assert duplicates_of(conn, "contact", rid) == [(mirrored, "email")]
    result = update_record(conn, rid, {"email": "jane@initech.com"})
    assert [(p.record_a, p.record_b) for p in result.duplicates] == [tuple(sorted((other, rid)))]
    assert duplicates_of(conn, "contact", rid) == [(other, "email")]
    assert rows(conn, "SELECT email_normalized FROM hubsync.contact_emails WHERE contact_id = %s", rid) == [
        {"email_normalized": "jane@initech.com"}
    ]


def test_update_errors_write_nothing(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "account", {"name": "Acme", "numberofemployees": "10"})
    before = counts(conn)
    with pytest.raises(RecordNotFound):
        update_record(conn, 999_999, {"name": "x"})
    with pytest.raises(InvalidFieldValue):
        update_record(conn, rid, {"name": "Acme 2", "numberofemployees": "ten"})
    with pytest.raises(InvalidField):
        update_record(conn, rid, {})
    assert counts(conn) == before
    [record] = rows(conn, "SELECT name FROM hubsync.accounts WHERE id = %s", rid)
    assert record["name"] == "Acme"


def test_delete_keeps_the_record_resolves_pairs_and_refuses_later_changes(
    conn: psycopg.Connection[Any],
) -> None:
    mirrored = pull(conn, "901", {"email": "jane@acme.com"})
    rid = create_record(conn, "contact", {"email": "jane@acme.com"})
    result = delete_record(conn, rid)
    assert rows(conn, "SELECT count(*) AS n FROM hubsync.contacts WHERE id = %s", rid) == [{"n": 1}]
    assert duplicates_of(conn, "contact", mirrored) == []
    last = outbox(conn, rid)[-1]
    assert last["type"] == "DELETED" and last["id"] == result.outbox_id
    [deleted] = [a for a in activities(conn, rid) if a["action"] == "deleted_in_platform"]
    assert deleted["detail"]["resolved_duplicates"] == [[mirrored, "email"]]
    before = counts(conn)
    with pytest.raises(RecordNotWritable, match="deleted"):
        update_record(conn, rid, {"email": "x@y.com"})
    with pytest.raises(RecordNotWritable):
        delete_record(conn, rid)
    with pytest.raises(RecordNotFound):
        delete_record(conn, 123_456)
    assert counts(conn) == before


def test_writes_commit_on_their_own_or_join_the_callers_transaction(platform_db: str) -> None:
    with psycopg.connect(platform_db) as conn:
        rid = create_record(conn, "contact", JANE)  # its own transaction, committed
        with conn.transaction():
            update_record(conn, rid, {"jobtitle": "CEO"})
            create_record(conn, "contact", {"email": "x@y.com"})
            raise psycopg.Rollback
        assert counts(conn)[:3] == (1, 0, 1)
        [record] = rows(conn, "SELECT properties FROM hubsync.contacts WHERE id = %s", rid)
        assert record["properties"]["jobtitle"] == "CTO"
