"""Writing and loading mirrored records against a real PostgreSQL: timestamps survive the round trip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hubsync.ingest.record_io import RecordRow, load_records, write_records
from hubsync.matching.record_keys import keys_of
from hubsync.records.state import RecordState
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration

#: Unix milliseconds at the edges of what HubSpot sends and of the double's exactness: odd
#: milliseconds, the epoch, before it, far ahead
EDGE_MS = (0, 1, 999, -1, -999, 1_733_450_000_123, 1_733_450_000_999, 1_700_000_000_001, 4_102_444_800_001)


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        yield connection


def test_float8_and_numeric_milliseconds_make_the_same_timestamps(conn: psycopg.Connection[Any]) -> None:
    """The writer turns milliseconds into timestamps with float8 arithmetic (``x::float8 / 1000``),
    not numeric (``x / 1000.0``, ~0.26 µs more a value): both round the exact quotient to the nearest
    double, which is what ``to_timestamp`` takes. Checked over two million values, 1945 to 2250."""
    mismatches = conn.execute(
        """
        SELECT count(*) FROM (
            SELECT g::bigint * 7919321 + o AS ms
              FROM generate_series(-100000, 899999) g, unnest(%s::bigint[]) o
        ) v
        WHERE to_timestamp(v.ms::float8 / 1000) IS DISTINCT FROM to_timestamp(v.ms / 1000.0)
        """,
        ([0, 1_733_000_000_000],),
    ).fetchone()
    assert mismatches == (0,)


def test_timestamps_round_trip_to_the_millisecond(conn: psycopg.Connection[Any]) -> None:
    rows = []
    for i, ms in enumerate(EDGE_MS):
        state = RecordState(
            hubspot_id=f"h{i}",
            crm_status_at=ms,
            properties={"email": f"p{i}@example.com"},
            versions={"email": ms},
            hubspot_updated_at=ms,
            hubspot_created_at=ms - 1,
            dirty=True,
        )
        rows.append(RecordRow("contact", state, keys_of("contact", state.properties)))
    ids = write_records(conn, rows, old_keys={})
    assert len(ids) == len(EDGE_MS)
    loaded = {
        r.state.hubspot_id: r.state
        for r in load_records(conn, "contact", hubspot_ids=sorted(hubspot_id for _, hubspot_id in ids))
    }
    for i, ms in enumerate(EDGE_MS):
        state = loaded[f"h{i}"]
        assert (state.crm_status_at, state.hubspot_updated_at, state.hubspot_created_at) == (ms, ms, ms - 1)


def _email_rows(conn: psycopg.Connection[Any], record_id: int) -> list[tuple[str, bool, str]]:
    """A contact's ``contact_emails`` rows with the transaction that wrote each (``xmin``)."""
    return [
        (str(email), bool(primary), str(xmin))
        for email, primary, xmin in conn.execute(
            "SELECT email_normalized, is_primary, xmin::text FROM hubsync.contact_emails_all"
            " WHERE contact_id = %s ORDER BY email_normalized",
            (record_id,),
        )
    ]


def _rewrite(conn: psycopg.Connection[Any], record_id: int, old: RecordState, **properties: str) -> None:
    state = RecordState(
        hubspot_id=old.hubspot_id,
        record_id=record_id,
        properties={**old.properties, **properties},
        versions=dict(old.versions),
        dirty=True,
    )
    old_keys = {("contact", old.hubspot_id): keys_of("contact", old.properties)}
    write_records(
        conn, [RecordRow("contact", state, keys_of("contact", state.properties))], old_keys=old_keys
    )
    conn.commit()


def test_email_keys_are_rewritten_only_when_the_addresses_change(conn: psycopg.Connection[Any]) -> None:
    """A contact's new name or company leaves its ``contact_emails`` rows alone (the same rows, written
    by the first transaction); another address, an added one or another primary replaces them."""
    first = {"email": "Ann@Acme.com", "hs_additional_emails": "ann.lee@acme.com", "lastname": "Lee"}
    state = RecordState(hubspot_id="h1", properties=dict(first), versions={"email": 1}, dirty=True)
    rid = write_records(conn, [RecordRow("contact", state, keys_of("contact", first))], old_keys={})[
        ("contact", "h1")
    ]
    conn.commit()
    written = _email_rows(conn, rid)
    assert [(e, p) for e, p, _ in written] == [("ann.lee@acme.com", False), ("ann@acme.com", True)]

    _rewrite(conn, rid, state, lastname="Lee-Smith", company="Acme Corp")
    assert _email_rows(conn, rid) == written  # not rewritten: the same rows of the same transaction
    renamed = RecordState(
        hubspot_id="h1", properties={**first, "lastname": "Lee-Smith", "company": "Acme Corp"}
    )

    _rewrite(conn, rid, renamed, hs_additional_emails="ann.lee@acme.com;a.lee@acme.com")
    added = _email_rows(conn, rid)
    assert [(e, p) for e, p, _ in added] == [
        ("a.lee@acme.com", False),
        ("ann.lee@acme.com", False),
        ("ann@acme.com", True),
    ]
    assert {x for _, _, x in added} != {x for _, _, x in written}
    more = RecordState(
        hubspot_id="h1",
        properties={**renamed.properties, "hs_additional_emails": "ann.lee@acme.com;a.lee@acme.com"},
    )

    _rewrite(conn, rid, more, email="ann.lee@acme.com", hs_additional_emails="ann@acme.com;a.lee@acme.com")
    swapped = _email_rows(conn, rid)  # the same three addresses, another primary
    assert [(e, p) for e, p, _ in swapped] == [
        ("a.lee@acme.com", False),
        ("ann.lee@acme.com", True),
        ("ann@acme.com", False),
    ]


def test_loading_parses_both_jsonb_columns_as_the_jsonb_loader_does(conn: psycopg.Connection[Any]) -> None:
    """``load_records`` reads ``properties`` and ``property_versions`` as text and parses them itself, with
    the values psycopg's jsonb loader gives (``hubsync.storage.pool.json_loads``): a number past a double's
    range, which orjson refuses (a platform writer may store one), falls back to the standard library; a
    number over 64 bits is a float either way. Each column comes back as a dict of its own."""
    state = RecordState(
        hubspot_id="big", properties={"email": "b@example.com"}, versions={"email": 1}, dirty=True
    )
    rid = write_records(
        conn, [RecordRow("contact", state, keys_of("contact", state.properties))], old_keys={}
    )[("contact", "big")]
    conn.execute(
        "UPDATE hubsync.contacts SET properties = properties || %s::jsonb,"
        " property_versions = property_versions || %s::jsonb WHERE id = %s",
        ('{"score": 1e400, "rank": 123456789012345678901234567890}', '{"score": 18446744073709551616}', rid),
    )
    stored = conn.execute(
        "SELECT properties, property_versions FROM hubsync.contacts WHERE id = %s", (rid,)
    ).fetchone()
    assert stored is not None
    (loaded,) = load_records(conn, "contact", hubspot_ids=["big"])
    assert (loaded.state.properties, loaded.state.versions) == stored
    assert loaded.state.properties["score"] == 10**400  # jsonb writes it out in digits
    assert loaded.state.versions == {"email": 1, "score": float(2**64)}
    assert type(loaded.state.properties) is dict and loaded.state.properties is not loaded.state.versions
