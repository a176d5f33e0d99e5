"""Putting HubSpot-mirrored records into the database the way the ingest path does."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import psycopg

from hubsync.ingest.apply import IngestContext, apply_batch
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from tests.ingest import events_factory as f


def pull(
    conn: psycopg.Connection[Any],
    hubspot_id: str,
    properties: Mapping[str, str | None],
    *,
    company: bool = False,
) -> int:
    """Apply a HubSpot snapshot through the ingest path (one committed transaction); the record id."""
    at = int(time.time() * 1000) - 60_000
    value = (
        f.company_snapshot(hubspot_id, properties, at=at)
        if company
        else f.snapshot(hubspot_id, properties, at=at)
    )
    with conn.transaction():
        ctx = IngestContext(
            mappings=load_mappings(conn),
            definitions={k: effective_definitions(conn, k) for k in ("contact", "account")},
        )
        apply_batch(conn, f.ces([value]), ctx)
    table = "hubsync.accounts" if company else "hubsync.contacts"
    row = conn.execute(f"SELECT id FROM {table} WHERE hubspot_id = %s", (hubspot_id,)).fetchone()
    assert row is not None
    return int(row[0])
