"""Canonical crm.* records read from PostgreSQL: arrays, erased contacts, duplicates, Avro round trip."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.storage.canonical import (
    ACCOUNTS_SQL,
    CONTACTS_SQL,
    acanonical_accounts,
    acanonical_contacts,
    canonical_account_values,
    canonical_accounts,
    canonical_contact_values,
    canonical_contacts,
    crm_key,
)
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration

REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)
T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 8, 30, 0, 456000, tzinfo=UTC)

# fixed record ids (the sequence is shared by contacts and accounts; explicit ids keep asserts simple)
A1, A2, A3 = 101, 102, 103
C1, C2, C3, C4, C5 = 201, 202, 203, 204, 205


def _seed(conn: psycopg.Connection[Any]) -> None:
    q = conn.execute
    for aid, name, domain in ((A1, "Acme", "acme.com"), (A2, "Acme Ltd", "acme.co.uk"), (A3, "Old Co", None)):
        q(
            "INSERT INTO hubsync.accounts (id, hubspot_id, creation_source, crm_status, name, domain, domain_root,"
            " properties, hubspot_updated_at, updated_at) VALUES (%s, %s, 'hubspot', 'synced', %s, %s, %s,"
            " %s::jsonb, %s, %s)",
            (
                aid,
                f"9{aid}",
                name,
                domain,
                domain,
                '{"industry": "SOFTWARE", "numberofemployees": 250}',
                T0,
                T1,
            ),
        )
    contacts = [
        (C1, "501", "synced", "hubspot", "ada@acme.com", "Ada", "Lovelace", None),
        (C2, "502", "synced", "manual_pull", "ADA@acme.com", "Ada", "L.", None),
        (C3, None, "not_linked", "platform", "ada.l@acme.com", "Ada", None, None),
        (C4, "504", "deleted_in_crm", "import", "gone@x.org", "Gone", "Person", T1),
        (C5, "505", "merged_in_crm", "hubspot", None, None, None, None),
    ]
    for cid, hid, status, source, email, first, last, erased_at in contacts:
        q(
            "INSERT INTO hubsync.contacts (id, hubspot_id, crm_status, creation_source, email, first_name,"
            " last_name, properties, hubspot_updated_at, erased_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
            (
                cid,
                hid,
                status,
                source,
                email,
                first,
                last,
                '{"jobtitle": "CTO", "phone": null, "hs_lead_score": 12, "vip": true,'
                ' "ratio": 1.5, "tags": ["a", "b"]}',
                T0 if hid else None,
                erased_at,
                T1,
            ),
        )
    q("UPDATE hubsync.contacts SET merged_into_id = %s WHERE id = %s", (C1, C5))
    q(
        "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES"
        " (%s, 'ada@acme.com', true), (%s, 'lovelace@acme.com', false), (%s, 'ada@home.net', false),"
        " (%s, 'ada@acme.com', true), (%s, 'gone@x.org', true), (%s, 'gone2@x.org', false)",
        (C1, C1, C1, C2, C4, C4),
    )
    q(
        "INSERT INTO hubsync.contact_account_links (contact_id, account_id, is_primary, removed_at) VALUES"
        " (%s, %s, true, NULL), (%s, %s, false, NULL), (%s, %s, false, %s), (%s, %s, false, NULL),"
        " (%s, %s, true, %s)",
        (C1, A1, C1, A2, C1, A3, T1, C2, A1, C2, A3, T1),
    )
    q(
        "INSERT INTO hubsync.potential_duplicates (object_type, record_a, record_b, signal, resolved_at) VALUES"
        " ('contact', %s, %s, 'email', NULL), ('contact', %s, %s, 'name_company', %s),"
        " ('contact', %s, %s, 'name_company', NULL), ('contact', %s, %s, 'email', NULL),"
        " ('account', %s, %s, 'domain', NULL), ('account', %s, %s, 'domain', %s)",
        (C1, C2, C1, C3, T1, C2, C3, C1, C4, A1, A2, A1, A3, T1),
    )


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        _seed(connection)
        connection.commit()
        yield connection


def _round_trip(stem: str, value: dict[str, Any]) -> dict[str, Any]:
    """Encoded with the schema, decoded without logical types (timestamps as the Unix ms written)."""
    schema = REPO.current(stem)
    return CODEC.decode("crm", schema, CODEC.encode("crm", schema, value), plain=True)


def test_contact_arrays_links_and_duplicates(conn: psycopg.Connection[Any]) -> None:
    rows = {r["record_id"]: r for r in canonical_contacts(conn, [C1, C2, C3, C5])}
    assert sorted(rows) == [C1, C2, C3, C5]
    c1 = rows[C1]
    assert c1["hubspot_id"] == "501"
    assert c1["crm_status"] == "SYNCED"
    assert c1["creation_source"] == "HUBSPOT"
    assert c1["email"] == "ada@acme.com"
    assert c1["additional_emails"] == ["ada@home.net", "lovelace@acme.com"]  # not the primary one
    assert (c1["first_name"], c1["last_name"]) == ("Ada", "Lovelace")
    assert c1["account_ids"] == [A1, A2]  # the removed link to A3 is left out
    assert c1["primary_account_id"] == A1
    # unresolved pairs on either side; the resolved pair with C3 is left out
    assert c1["potential_duplicate_ids"] == [C2, C4]
    assert c1["erased"] is False
    assert c1["merged_into_id"] is None
    # Unix ms, the value timestamp-millis holds (fastavro writes ints without a conversion)
    assert c1["hubspot_updated_at"] == int(T0.timestamp() * 1000) == 1772366400123
    assert c1["updated_at"] == int(T1.timestamp() * 1000)
    assert c1["properties"] == {
        "jobtitle": "CTO",
        "phone": None,
        "hs_lead_score": "12",
        "vip": "true",
        "ratio": "1.5",
        "tags": '["a","b"]',
    }

    c2 = rows[C2]
    assert c2["creation_source"] == "MANUAL_PULL"
    assert c2["additional_emails"] == []
    assert c2["account_ids"] == [A1]
    assert c2["primary_account_id"] is None  # its primary link was removed
    assert c2["potential_duplicate_ids"] == [C1, C3]  # C2 is record_b of (C1, C2), record_a of (C2, C3)

    c3 = rows[C3]
    assert c3["hubspot_id"] is None
    assert c3["crm_status"] == "NOT_LINKED"
    assert c3["creation_source"] == "PLATFORM"
    assert c3["account_ids"] == []
    assert c3["potential_duplicate_ids"] == [C2]
    assert c3["hubspot_updated_at"] is None

    assert rows[C5]["crm_status"] == "MERGED_IN_CRM"
    assert rows[C5]["merged_into_id"] == C1


def test_erased_contact_carries_no_personal_data(conn: psycopg.Connection[Any]) -> None:
    (c4,) = canonical_contacts(conn, [C4])
    assert c4["erased"] is True
    assert c4["email"] is None
    assert c4["first_name"] is None
    assert c4["last_name"] is None
    assert c4["additional_emails"] == []
    assert c4["properties"] == {}
    # not personal: the record's identity, status and relations stay
    assert c4["hubspot_id"] == "504"
    assert c4["crm_status"] == "DELETED_IN_CRM"
    assert c4["creation_source"] == "IMPORT"
    assert c4["potential_duplicate_ids"] == [C1]
    decoded = _round_trip("crm_contact", c4)
    assert decoded["erased"] is True
    assert decoded["email"] is None


def test_accounts(conn: psycopg.Connection[Any]) -> None:
    rows = {r["record_id"]: r for r in canonical_accounts(conn, [A1, A2, A3])}
    assert rows[A1]["contact_ids"] == [C1, C2]
    assert rows[A1]["potential_duplicate_ids"] == [A2]  # (A1, A3) is resolved
    assert rows[A1]["crm_status"] == "SYNCED"
    assert rows[A1]["creation_source"] == "HUBSPOT"
    assert rows[A1]["domain_root"] == "acme.com"
    assert rows[A1]["properties"] == {"industry": "SOFTWARE", "numberofemployees": "250"}
    assert rows[A2]["contact_ids"] == [C1]
    assert rows[A2]["potential_duplicate_ids"] == [A1]
    assert rows[A3]["contact_ids"] == []  # both of its links are removed
    assert rows[A3]["potential_duplicate_ids"] == []
    assert rows[A3]["domain"] is None


def test_values_round_trip_through_the_crm_schemas(conn: psycopg.Connection[Any]) -> None:
    contacts = canonical_contacts(conn, [C1, C2, C3, C4, C5])
    accounts = canonical_accounts(conn, [A1, A2, A3])
    assert len(contacts) == 5 and len(accounts) == 3
    for stem, values in (("crm_contact", contacts), ("crm_account", accounts)):
        for value in values:
            assert _round_trip(stem, value) == value


@pytest.mark.parametrize(("stem", "sql"), [("crm_contact", CONTACTS_SQL), ("crm_account", ACCOUNTS_SQL)])
def test_the_columns_are_the_schemas_fields_in_order(
    conn: psycopg.Connection[Any], stem: str, sql: str
) -> None:
    """What lets ingest encode a row as it comes (AvroCodec.encode_fields)."""
    with conn.cursor() as cur:
        cur.execute(sql, {"ids": "{}"})
        assert cur.description is not None
        assert tuple(c.name for c in cur.description) == REPO.current(stem).field_names


def test_values_are_the_records_fields_and_encode_to_the_same_bytes(conn: psycopg.Connection[Any]) -> None:
    """Ingest reads tuples and encodes them field by field; the relay reads dicts: one message."""
    for stem, topic, records, values in (
        (
            "crm_contact",
            "crm.contacts",
            canonical_contacts(conn, [C1, C2, C3, C4, C5]),
            canonical_contact_values(conn, [C1, C2, C3, C4, C5]),
        ),
        (
            "crm_account",
            "crm.accounts",
            canonical_accounts(conn, [A1, A2, A3]),
            canonical_account_values(conn, [A1, A2, A3]),
        ),
    ):
        schema = REPO.current(stem)
        assert [dict(zip(schema.field_names, row, strict=True)) for row in values] == records
        for row, record in zip(values, records, strict=True):
            assert CODEC.encode_fields(topic, schema, row) == CODEC.encode(topic, schema, record)
    # the account's numeric property is made text in both (the map holds strings)
    (a1,) = canonical_account_values(conn, [A1])
    assert a1[REPO.current("crm_account").field_names.index("properties")] == {
        "industry": "SOFTWARE",
        "numberofemployees": "250",
    }
    assert canonical_contact_values(conn, []) == canonical_account_values(conn, []) == []


def test_missing_ids_wrong_types_and_empty_batches(conn: psycopg.Connection[Any]) -> None:
    assert canonical_contacts(conn, []) == []
    assert canonical_accounts(conn, []) == []
    # an account id is not a contact, unknown ids are left out, repeated ids come once, order by id
    assert [r["record_id"] for r in canonical_contacts(conn, [C3, A1, 999_999, C1, C3])] == [C1, C3]
    assert [r["record_id"] for r in canonical_accounts(conn, [A2, C1, A1])] == [A1, A2]


def test_a_batch_s_records_are_read_through_their_ids(conn: psycopg.Connection[Any]) -> None:
    """The records are found by their ids (``id = ANY(...)``, one index lookup each): joined to the
    batch's ids instead, a read of 2,000 over a few thousand records walked the whole primary key
    (a merge join), a cost that grew with the table (docs/performance.md, session 18). Planned as
    a worker's connections plan (``random_page_cost`` 1.1, :data:`hubsync.storage.pool.SESSION_OPTIONS`)."""
    conn.execute("SET random_page_cost = 1.1")
    for table in ("contacts_all", "accounts_all"):
        conn.execute(
            f"INSERT INTO hubsync.{table} (id, portal_id, creation_source)"
            " SELECT 10000 + g, hubsync.current_portal(), 'hubspot' FROM generate_series(1, 20000) g"
        )
    conn.execute("ANALYZE hubsync.contacts_all, hubsync.accounts_all")
    ids = list(range(12_001, 14_001))
    for sql, table in ((CONTACTS_SQL, "contacts_all"), (ACCOUNTS_SQL, "accounts_all")):
        # the plan without the 2,000 ids it spells out
        lines = [
            re.sub(r"'\{[0-9,]*\}'", "'{...}'", str(row[0]))
            for row in conn.execute("EXPLAIN " + sql, {"ids": ids})
        ]
        scans = [i for i, line in enumerate(lines) if f" on {table}" in line]
        assert scans, lines
        for i in scans:
            # an index scan, or a bitmap scan of the index, by the ids
            assert re.search(r"(Index|Recheck) Cond: \(id = ANY", lines[i + 1]), "\n".join(lines)


def test_async_variants_match(conn: psycopg.Connection[Any], fresh_database_url: str) -> None:
    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with await psycopg.AsyncConnection.connect(fresh_database_url) as aconn:
            return await acanonical_contacts(aconn, [C1, C4]), await acanonical_accounts(aconn, [A1])

    contacts, accounts = asyncio.run(read())
    assert contacts == canonical_contacts(conn, [C1, C4])
    assert accounts == canonical_accounts(conn, [A1])


def test_crm_key() -> None:
    assert crm_key(42) == b"42"
    assert crm_key(9_007_199_254_740_993) == b"9007199254740993"
