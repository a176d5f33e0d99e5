"""The transactional outbox: events, their JSON payload, the rows, and the Avro value built from them."""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import fastavro.validation
import psycopg
import pytest
from psycopg import pq

from hubsync.avro import SchemaRepository
from hubsync.errors import SkippableRecordError
from hubsync.mapping.rules import MappingDecision, mapped_values_event
from hubsync.storage.migrate import migrate
from hubsync.storage.outbox import (
    InvalidOutboxPayloadError,
    OutboxEvent,
    append_outbox,
    epoch_ms,
    payload_to_avro,
)

SCHEMA = SchemaRepository().current("platform_change_event")
AT = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)
AT_MS = 1_772_600_767_891

DECISIONS = (
    MappingDecision("industry", "industry", "autofill", None, "COMPUTER_SOFTWARE"),
    MappingDecision("numberofemployees", "numberofemployees", "overwrite", "12", "250"),
)


def encodes(value: dict[str, Any]) -> dict[str, Any]:
    """Valid for the schema (strict: no extra or missing fields), encoded and decoded back."""
    fastavro.validation.validate(value, SCHEMA.parsed, raise_errors=True, strict=True)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, SCHEMA.parsed, value)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, SCHEMA.parsed, SCHEMA.parsed)
    assert isinstance(decoded, dict)
    return decoded


def full_event() -> OutboxEvent:
    return OutboxEvent(
        object_type="CONTACT",
        record_id=42,
        change_type="UPDATED",
        occurred_at=AT,
        hubspot_id="901",
        changed_fields={"jobtitle": "CTO", "phone": None},
        field_rules={"jobtitle": "platform", "phone": "manual"},
        field_timestamps={"jobtitle": AT, "phone": AT + timedelta(seconds=1)},
        manual=True,
        merged_into_id=41,
        cause_event="hubspot:contact:901:1772600767000",
    )


def test_epoch_ms_is_exact_and_zone_independent() -> None:
    assert epoch_ms(AT) == AT_MS
    assert epoch_ms(AT.astimezone(timezone(timedelta(hours=-7)))) == AT_MS
    assert epoch_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    with pytest.raises(ValueError, match="aware"):
        epoch_ms(datetime(2026, 1, 1))


def test_payload_and_avro_value() -> None:
    payload = full_event().to_payload()
    assert payload == {
        "object_type": "CONTACT",
        "record_id": 42,
        "change_type": "UPDATED",
        "occurred_at": AT_MS,
        "hubspot_id": "901",
        "changed_fields": {"jobtitle": "CTO", "phone": None},
        "field_rules": {"jobtitle": "platform", "phone": "manual"},
        "field_timestamps": {"jobtitle": AT_MS, "phone": AT_MS + 1000},
        "manual": True,
        "merged_into_id": 41,
        "cause_event": "hubspot:contact:901:1772600767000",
    }
    event_id = uuid.uuid4()
    value = payload_to_avro(event_id, payload)
    assert value == {"event_id": str(event_id), **payload, "portal_id": None}
    decoded = encodes(value)
    assert decoded["occurred_at"] == AT.replace(microsecond=891_000)
    assert decoded["field_timestamps"]["phone"] == AT.replace(microsecond=891_000) + timedelta(seconds=1)


def test_minimal_payload_takes_the_schema_defaults() -> None:
    event_id = uuid.uuid4()
    minimal = {"object_type": "ACCOUNT", "record_id": 7, "change_type": "DELETED", "occurred_at": AT_MS}
    value = payload_to_avro(event_id, minimal)
    assert value == {
        **minimal,
        "event_id": str(event_id),
        "hubspot_id": None,
        "changed_fields": {},
        "field_rules": {},
        "field_timestamps": {},
        "manual": False,
        "merged_into_id": None,
        "cause_event": None,
        "portal_id": None,
    }
    encodes(value)
    plain = OutboxEvent("ACCOUNT", 7, "DELETED", AT)
    assert encodes(payload_to_avro(event_id, plain.to_payload()))["record_id"] == 7


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"object_type": "COMPANY"}, "object_type"),
        ({"change_type": "RENAMED"}, "change_type"),
        ({"record_id": "42"}, "record_id"),
        ({"record_id": True}, "record_id"),
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": 1.5}, "occurred_at"),
        ({"hubspot_id": 901}, "hubspot_id"),
        ({"changed_fields": {"a": 1}}, "changed_fields"),
        ({"changed_fields": ["a"]}, "changed_fields"),
        ({"field_rules": {"a": None}}, "field_rules"),
        ({"field_timestamps": {"a": "2026-01-01"}}, "field_timestamps"),
        ({"manual": "yes"}, "manual"),
        ({"merged_into_id": "41"}, "merged_into_id"),
        ({"cause_event": 5}, "cause_event"),
    ],
)
def test_malformed_payloads_are_skippable_errors(change: dict[str, Any], field: str) -> None:
    payload = {**full_event().to_payload(), **change}
    with pytest.raises(InvalidOutboxPayloadError, match=repr(field)) as info:
        payload_to_avro(uuid.uuid4(), payload)
    assert isinstance(info.value, SkippableRecordError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"object_type": "contact"}, "CONTACT or ACCOUNT"),
        ({"change_type": "RENAMED"}, "unknown change_type"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at must be an aware"),
        ({"field_timestamps": {"x": datetime(2026, 1, 1)}}, r"field_timestamps\['x'\]"),
    ],
)
def test_events_are_validated(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "object_type": "CONTACT",
        "record_id": 1,
        "change_type": "UPDATED",
        "occurred_at": AT,
    }
    with pytest.raises(ValueError, match=message):
        OutboxEvent(**{**args, **kwargs})


def test_mapped_values_event() -> None:
    event = mapped_values_event("account", 9, "123", DECISIONS, AT, "hubspot:company:123:1")
    assert event == OutboxEvent(
        object_type="ACCOUNT",
        record_id=9,
        change_type="MAPPED_VALUES",
        occurred_at=AT,
        hubspot_id="123",
        changed_fields={"industry": "COMPUTER_SOFTWARE", "numberofemployees": "250"},
        field_rules={"industry": "autofill", "numberofemployees": "overwrite"},
        field_timestamps={"industry": AT, "numberofemployees": AT},
        cause_event="hubspot:company:123:1",
    )
    assert mapped_values_event("contact", 1, None, (), AT, None).object_type == "CONTACT"
    encodes(payload_to_avro(uuid.uuid4(), event.to_payload()))


# ---- against PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        yield connection


@pytest.mark.integration
def test_append_writes_debezium_rows_in_order(conn: psycopg.Connection[Any]) -> None:
    events = [
        full_event(),
        mapped_values_event("account", 9, "123", DECISIONS, AT, "hubspot:company:123:1"),
        OutboxEvent("CONTACT", 42, "PUSH_REQUESTED", AT, manual=True, changed_fields={"city": "Zürich"}),
    ]
    ids = append_outbox(conn, events)
    conn.commit()
    assert len(ids) == 3 and len(set(ids)) == 3
    rows = conn.execute(
        "SELECT id, aggregatetype, aggregateid, type, payload, published_at FROM hubsync.outbox ORDER BY seq"
    ).fetchall()
    assert [r[0] for r in rows] == ids
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("contact", "42", "UPDATED"),
        ("account", "9", "MAPPED_VALUES"),
        ("contact", "42", "PUSH_REQUESTED"),
    ]
    assert [r[4] for r in rows] == [e.to_payload() for e in events]
    assert all(r[5] is None for r in rows)
    for row in rows:
        decoded = encodes(payload_to_avro(row[0], row[4]))
        assert decoded["event_id"] == str(row[0])
    assert rows[2][4]["changed_fields"] == {"city": "Zürich"}


@pytest.mark.integration
def test_append_is_one_statement_inside_the_callers_transaction(conn: psycopg.Connection[Any]) -> None:
    assert append_outbox(conn, []) == []
    many = [OutboxEvent("ACCOUNT", i, "UPDATED", AT) for i in range(500)]
    conn.execute("SELECT 1")  # the caller's transaction is open
    with tempfile.TemporaryFile("w+") as trace:
        # libpq's protocol trace: what append_outbox sent to the server
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            ids = append_outbox(conn, many)
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t")[2] for line in trace if line.startswith("F\t")]
    assert sent.count("Execute") == 1 and "Query" not in sent
    assert len(ids) == 500
    seen = conn.execute("SELECT aggregateid FROM hubsync.outbox ORDER BY seq").fetchall()
    assert [int(r[0]) for r in seen] == list(range(500))
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM hubsync.outbox").fetchone() == (0,)


@pytest.mark.integration
def test_commit_notifies_the_relay(conn: psycopg.Connection[Any], fresh_database_url: str) -> None:
    with psycopg.connect(fresh_database_url, autocommit=True) as listener:
        listener.execute("LISTEN hubsync_outbox")
        append_outbox(conn, [OutboxEvent("CONTACT", 1, "CREATED", AT)])
        conn.commit()
        notifies = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in notifies] == ["hubsync_outbox"]
