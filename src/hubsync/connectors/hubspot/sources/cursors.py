"""Durable connector positions in ``hubsync.connector_cursors``.

A cursor is a small JSON document per (connector, object type). Connectors save it only after
Kafka acknowledged the events it covers, so a restart re-reads at most one page (at-least-once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hubsync.records.kinds import ObjectKind
from hubsync.storage.portal_scope import portal_connection


@dataclass(frozen=True, slots=True)
class PollCursor:
    """Where an incremental poll stands: every record modified before ``watermark_ms`` has been
    published; ``seen`` holds ``id:modified_ms`` of records published inside the overlap that the
    next poll re-reads, so they are not published twice."""

    watermark_ms: int
    seen: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {"watermark_ms": self.watermark_ms, "seen": sorted(self.seen)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollCursor:
        return cls(int(data["watermark_ms"]), frozenset(str(s) for s in data.get("seen", ())))


class CursorStore:
    """Reads and writes the cursors of one portal (None: the connection's own) through an async
    psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool[Any], portal_id: int | None = None) -> None:
        self._pool = pool
        self.portal_id = portal_id

    async def load(self, connector: str, object_type: ObjectKind) -> dict[str, Any] | None:
        async with portal_connection(self._pool, self.portal_id) as conn:
            cur = await conn.execute(
                "SELECT position FROM hubsync.connector_cursors WHERE connector = %s AND object_type = %s",
                (connector, object_type),
            )
            row = await cur.fetchone()
        return dict(row[0]) if row else None

    async def save(self, connector: str, object_type: ObjectKind, position: dict[str, Any]) -> None:
        async with portal_connection(self._pool, self.portal_id) as conn:
            await conn.execute(
                "INSERT INTO hubsync.connector_cursors (connector, object_type, position)"
                " VALUES (%s, %s, %s) ON CONFLICT (portal_id, connector, object_type)"
                " DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
                (connector, object_type, Jsonb(position)),
            )

    async def delete(self, connector: str, object_type: ObjectKind) -> None:
        async with portal_connection(self._pool, self.portal_id) as conn:
            await conn.execute(
                "DELETE FROM hubsync.connector_cursors WHERE connector = %s AND object_type = %s",
                (connector, object_type),
            )
