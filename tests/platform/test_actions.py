"""merge_records / enrich_record / request_push against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from hubsync.matching.duplicates import duplicates_of
from hubsync.platform import (
    InvalidField,
    InvalidFieldValue,
    InvalidMerge,
    NoEnrichmentValue,
    PlatformWriteError,
    RecordNotFound,
    RecordNotWritable,
    create_record,
    delete_record,
    enrich_record,
    merge_records,
    request_push,
    set_setting,
    update_record,
)
from tests.platform.conftest import activities, outbox, rows
from tests.platform.helpers import pull
from tests.platform.test_records import counts

pytestmark = pytest.mark.integration


def test_merge_resolves_the_pair_and_stops_the_merged_record(conn: psycopg.Connection[Any]) -> None:
    survivor = pull(conn, "901", {"email": "jane@acme.com", "firstname": "Jane"})
    merged = create_record(conn, "contact", {"email": "jane@acme.com", "firstname": "Janet"})
    third = create_record(conn, "contact", {"email": "jane@acme.com"})
    assert duplicates_of(conn, "contact", merged) == sorted([(survivor, "email"), (third, "email")])
    result = merge_records(conn, survivor, merged)

    [record] = rows(conn, "SELECT merged_into_id, crm_status FROM hubsync.contacts WHERE id = %s", merged)
    assert record == {"merged_into_id": survivor, "crm_status": "merged_in_platform"}
    [pair] = rows(
        conn,
        "SELECT resolved_at FROM hubsync.potential_duplicates WHERE record_a = %s AND record_b = %s",
        min(survivor, merged),
        max(survivor, merged),
    )
    assert pair["resolved_at"] is not None
    # the merged record no longer counts as a duplicate; the survivor's other pair stays open
    assert duplicates_of(conn, "contact", merged) == []
    assert duplicates_of(conn, "contact", survivor) == [(third, "email")]
    [row] = [r for r in outbox(conn) if r["type"] == "MERGED"]
    assert row["id"] == result.outbox_id and row["aggregateid"] == str(merged)
    assert row["payload"]["merged_into_id"] == survivor and row["payload"]["changed_fields"] == {}
    for rid, role in ((merged, "merged"), (survivor, "survivor")):
        [act] = [a for a in activities(conn, rid) if a["action"] == "merged_in_platform"]
        assert act["detail"]["role"] == role and act["detail"]["resolved_signals"] == ["email"]
    with pytest.raises(RecordNotWritable, match="merged into"):
        update_record(conn, merged, {"firstname": "x"})
    with pytest.raises(RecordNotWritable):
        request_push(conn, [merged])


def test_merging_into_a_merged_record_repoints_earlier_merges(conn: psycopg.Connection[Any]) -> None:
    a, b, c = (create_record(conn, "account", {"name": n}) for n in ("A", "B", "C"))
    merge_records(conn, b, c)
    merge_records(conn, a, b)
    merged = rows(conn, "SELECT id, merged_into_id FROM hubsync.accounts ORDER BY id")
    assert merged == [
        {"id": a, "merged_into_id": None},
        {"id": b, "merged_into_id": a},
        {"id": c, "merged_into_id": a},
    ]


def test_bad_merges_write_nothing(conn: psycopg.Connection[Any]) -> None:
    contact = create_record(conn, "contact", {"email": "a@b.com"})
    account = create_record(conn, "account", {"name": "Acme"})
    other = create_record(conn, "account", {"name": "Initech"})
    delete_record(conn, other)
    before = counts(conn)
    with pytest.raises(InvalidMerge, match="only records of one type"):
        merge_records(conn, contact, account)
    with pytest.raises(InvalidMerge, match="itself"):
        merge_records(conn, contact, contact)
    with pytest.raises(RecordNotFound):
        merge_records(conn, account, 999_999)
    with pytest.raises(RecordNotWritable):
        merge_records(conn, account, other)
    assert counts(conn) == before


def test_enrich_with_mode_none_still_pushes_a_manual_row(conn: psycopg.Connection[Any]) -> None:
    rid = pull(conn, "901", {"email": "jane@acme.com", "company": "Acme"})
    # company's mapping mode is none: a manual enrichment takes precedence
    result = enrich_record(conn, rid, "company", "Acme Corporation")
    [row] = outbox(conn, rid)
    assert row["type"] == "ENRICHED" and row["id"] == result.outbox_id
    payload = row["payload"]
    assert payload["manual"] is True and payload["hubspot_id"] == "901"
    assert payload["changed_fields"] == {"company": "Acme Corporation"}
    assert payload["field_rules"] == {"company": "manual"}
    [record] = rows(
        conn, "SELECT company_name, properties, property_versions FROM hubsync.contacts WHERE id = %s", rid
    )
    assert record["company_name"] == "Acme Corporation"
    assert record["property_versions"]["company"]["rule"] == "manual"
    [act] = [a for a in activities(conn, rid) if a["action"] == "enriched"]
    assert (act["field"], act["before"], act["after"], act["rule"]) == (
        "company",
        "Acme",
        "Acme Corporation",
        "manual",
    )
    assert act["detail"] == {"value_source": "user", "mapped": True}


def test_enrich_from_the_prospect_database(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)"
        " VALUES ('Acme', 'acme.com', 'acme.com', %s)",
        (Jsonb({"numberofemployees": 250, "industry": "Computer Software"}),),
    )
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, first_name, attributes)"
        " VALUES ('jane@acme.com', 'Jane', %s)",
        (Jsonb({"jobtitle": "VP Sales"}),),
    )
    set_setting(conn, "push.enabled", "false")
    account = create_record(conn, "account", {"name": "Acme", "domain": "www.acme.com"})
    contact = create_record(conn, "contact", {"email": "Jane@Acme.com"})
    enrich_record(conn, account, "numberofemployees")
    enrich_record(conn, account, "industry")
    enrich_record(conn, contact, "jobtitle")
    enriched = [r["payload"]["changed_fields"] for r in outbox(conn) if r["type"] == "ENRICHED"]
    assert enriched == [
        {"numberofemployees": "250"},
        {"industry": "COMPUTER_SOFTWARE"},
        {"jobtitle": "VP Sales"},
    ]
    [act] = [a for a in activities(conn, contact) if a["action"] == "enriched"]
    assert act["detail"]["value_source"] == "prospect"
    with pytest.raises(NoEnrichmentValue, match="no value for 'city'"):
        enrich_record(conn, contact, "city")


def test_enrich_errors_write_nothing(conn: psycopg.Connection[Any]) -> None:
    account = create_record(conn, "account", {"name": "Nodomain"})
    contact = create_record(conn, "contact", {"email": "bob@unknown.org"})
    before = counts(conn)
    with pytest.raises(NoEnrichmentValue, match="no domain"):
        enrich_record(conn, account, "industry")
    with pytest.raises(NoEnrichmentValue, match="no prospect person"):
        enrich_record(conn, contact, "jobtitle")
    with pytest.raises(InvalidFieldValue, match="allowed options"):
        enrich_record(conn, account, "industry", "Space piracy")
    with pytest.raises(InvalidFieldValue, match="no HubSpot property definition"):
        enrich_record(conn, account, "custom_score", "5")
    with pytest.raises(InvalidFieldValue, match="needs a value"):
        enrich_record(conn, account, "industry", " ")
    with pytest.raises(InvalidField):
        enrich_record(conn, account, "Bad Field", "x")
    with pytest.raises(RecordNotFound):
        enrich_record(conn, 424_242, "industry", "x")
    assert counts(conn) == before


def test_request_push_sends_every_mapped_field_manually(conn: psycopg.Connection[Any]) -> None:
    set_setting(conn, "push.enabled", "false")
    rid = create_record(conn, "contact", {"email": "jane@acme.com", "jobtitle": "CTO", "notes": "x"})
    linked = pull(conn, "902", {"email": "bob@acme.com", "firstname": "Bob"})
    [(first, first_id), (second, second_id)] = request_push(conn, [rid, linked, rid])
    assert (first, second) == (rid, linked)
    pushes = [r for r in outbox(conn) if r["type"] == "PUSH_REQUESTED"]
    assert [r["id"] for r in pushes] == [first_id, second_id]
    assert pushes[0]["payload"]["changed_fields"] == {"email": "jane@acme.com", "jobtitle": "CTO"}
    assert pushes[0]["payload"]["manual"] is True and pushes[0]["payload"]["hubspot_id"] is None
    assert pushes[1]["payload"]["changed_fields"] == {"email": "bob@acme.com", "firstname": "Bob"}
    assert pushes[1]["payload"]["hubspot_id"] == "902"


def test_request_push_is_all_or_nothing(conn: psycopg.Connection[Any]) -> None:
    rid = create_record(conn, "contact", {"email": "jane@acme.com"})
    gone = pull(conn, "903", {"email": "gone@acme.com"})
    conn.execute("UPDATE hubsync.contacts SET crm_status = 'deleted_in_crm' WHERE id = %s", (gone,))
    before = counts(conn)
    with pytest.raises(RecordNotFound):
        request_push(conn, [rid, 999_999])
    with pytest.raises(RecordNotWritable, match="deleted in HubSpot"):
        request_push(conn, [rid, gone])
    with pytest.raises(PlatformWriteError):
        request_push(conn, [])
    assert counts(conn) == before
