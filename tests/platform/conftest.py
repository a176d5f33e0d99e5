"""A migrated database with the default settings and mappings, and helpers to read it back."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import fastavro
import fastavro.validation
import psycopg
import pytest
from psycopg.rows import dict_row

from hubsync.avro import SchemaRepository
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.outbox import payload_to_avro


@pytest.fixture
def platform_db(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as conn:
        seed_defaults(conn, load_defaults())
    return fresh_database_url


@pytest.fixture
def conn(platform_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(platform_db, autocommit=True) as connection:
        yield connection


def rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


def outbox(conn: psycopg.Connection[Any], record_id: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows in order; every payload is checked against the PlatformChangeEvent schema."""
    found = rows(
        conn,
        "SELECT id, aggregatetype, aggregateid, type, payload FROM hubsync.outbox"
        " WHERE %s::text IS NULL OR aggregateid = %s::text ORDER BY seq",
        None if record_id is None else str(record_id),
        None if record_id is None else str(record_id),
    )
    for row in found:
        assert_valid_avro(row["id"], row["payload"])
    return found


SCHEMA = SchemaRepository().current("platform_change_event")


def assert_valid_avro(outbox_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """The row's Avro value is valid for the schema (strict) and encodes."""
    value = payload_to_avro(outbox_id, payload)
    fastavro.validation.validate(value, SCHEMA.parsed, raise_errors=True, strict=True)
    fastavro.schemaless_writer(io.BytesIO(), SCHEMA.parsed, value)


def activities(conn: psycopg.Connection[Any], record_id: int) -> list[dict[str, Any]]:
    return rows(conn, "SELECT * FROM hubsync.activity_log WHERE record_id = %s ORDER BY id", record_id)
