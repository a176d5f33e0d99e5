"""The version of the field mappings, and which version each running worker applies.

Every change of ``hubsync.field_mappings`` bumps the ``field_mappings`` version (a statement
trigger, whatever the writer). Workers record the version of the mappings they loaded, and refresh
that row every few seconds while they run (:func:`record_worker_context`); a worker whose row was
not refreshed for :data:`LIVE_WITHIN_S` is taken as gone.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

#: a worker whose context row is older than this is no longer running
LIVE_WITHIN_S = 30.0


@dataclass(frozen=True, slots=True)
class WorkerContext:
    worker_id: str
    mapping_version: int
    loaded_at: datetime
    seen_at: datetime
    live: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "mapping_version": self.mapping_version,
            "loaded_at": self.loaded_at.isoformat(),
            "seen_at": self.seen_at.isoformat(),
            "live": self.live,
        }


def new_worker_id(role: str) -> str:
    """``role@host:pid/nonce``: unique per process and processor."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:6]}"


def mapping_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT version FROM hubsync.config_versions WHERE name = 'field_mappings'").fetchone()
    return int(row[0]) if row else 0


def record_worker_context(
    conn: psycopg.Connection[Any], worker_id: str, version: int, *, loaded: bool
) -> None:
    """Say that ``worker_id`` runs with mapping ``version`` (``loaded``: it just (re)loaded it)."""
    conn.execute(
        "INSERT INTO hubsync.worker_contexts (worker_id, mapping_version, loaded_at, seen_at)"
        " VALUES (%s, %s, now(), now()) ON CONFLICT (worker_id) DO UPDATE SET"
        " mapping_version = EXCLUDED.mapping_version, seen_at = now(),"
        " loaded_at = CASE WHEN %s THEN now() ELSE hubsync.worker_contexts.loaded_at END",
        (worker_id, version, loaded),
    )


def worker_contexts(
    conn: psycopg.Connection[Any], *, live_within_s: float = LIVE_WITHIN_S
) -> list[WorkerContext]:
    """Every worker that recorded its context, with whether it is still running, by id."""
    rows = conn.execute(
        "SELECT worker_id, mapping_version, loaded_at, seen_at,"
        " seen_at > now() - make_interval(secs => %s) FROM hubsync.worker_contexts ORDER BY worker_id",
        (live_within_s,),
    ).fetchall()
    return [WorkerContext(str(w), int(v), loaded, seen, bool(live)) for w, v, loaded, seen, live in rows]


def forget_gone_workers(conn: psycopg.Connection[Any], *, older_than_s: float = 24 * 3600) -> int:
    """Drop the rows of workers not seen for ``older_than_s`` (a day by default)."""
    cur = conn.execute(
        "DELETE FROM hubsync.worker_contexts WHERE seen_at < now() - make_interval(secs => %s)",
        (older_than_s,),
    )
    return cur.rowcount
