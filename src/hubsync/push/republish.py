"""Canonical records to publish again: the requests of ``hubsync.crm_republish_all`` (migration 0014).

A record's ``crm.*`` value lists its open potential duplicates. When a pair is flagged, dropped or
dismissed outside an ingest batch (a platform-side write or merge, a push HubSpot refused with
409, "not a duplicate" in the console), a trigger on the pairs' table asks, in the same
transaction, for both records to be published again. The relay (:mod:`hubsync.push.relay`) reads
the requests after the outbox, publishes the records' current values and deletes the requests
once Kafka acknowledged them: at-least-once, like the outbox. Ingest publishes the records of the
pairs it flags itself and asks only for the pairs it drops
(:func:`hubsync.storage.canonical.publishes_canonical`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class RepublishRequest:
    id: int
    portal_id: int
    object_type: str
    record_id: int


async def fetch_republish(conn: psycopg.AsyncConnection[Any], limit: int) -> list[RepublishRequest]:
    """The oldest ``limit`` requests of every portal."""
    cur = await conn.execute(
        "SELECT id, portal_id, object_type, record_id FROM hubsync.crm_republish_all ORDER BY id LIMIT %s",
        (limit,),
    )
    return [RepublishRequest(int(i), int(p), str(k), int(r)) for i, p, k, r in await cur.fetchall()]


async def delete_republished(conn: psycopg.AsyncConnection[Any], ids: Sequence[int]) -> int:
    cur = await conn.execute("DELETE FROM hubsync.crm_republish_all WHERE id = ANY(%s)", (list(ids),))
    return cur.rowcount


def wanted_by_portal(requests: Sequence[RepublishRequest]) -> dict[int | None, dict[str, set[int]]]:
    """Record ids per portal and kind (a record asked for twice is published once)."""
    out: dict[int | None, dict[str, set[int]]] = {}
    for request in requests:
        out.setdefault(request.portal_id, {"contact": set(), "account": set()})[request.object_type].add(
            request.record_id
        )
    return out
