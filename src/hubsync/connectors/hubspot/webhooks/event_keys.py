"""Which webhook events were already published: PostgreSQL ``hubsync.webhook_dedupe`` plus the
keys other requests of this process are publishing right now.

The receiver records a key only *after* Kafka acknowledged its event, so a crash in between
re-publishes the event on HubSpot's retry (at-least-once) and never loses it. Two concurrent
deliveries of the same event in one process share one publish through :class:`InFlightKeys`;
across processes they may both publish, which downstream dedup absorbs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from hubsync.errors import RetriableError

_SEEN = "SELECT event_key FROM hubsync.webhook_dedupe WHERE event_key = ANY(%s)"
_RECORD = """
INSERT INTO hubsync.webhook_dedupe (event_key)
SELECT unnest(%s::bytea[])
ON CONFLICT (event_key) DO NOTHING
RETURNING event_key
"""
_PURGE = "DELETE FROM hubsync.webhook_dedupe WHERE received_at < now() - %s"


class WebhookDedupe:
    """The durable set of published event keys. Every failure (PostgreSQL down, pool exhausted,
    slow query) surfaces as :class:`RetriableError` within ``timeout_s``."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, timeout_s: float = 3.0) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    async def _run(self, query: str, param: Any) -> list[bytes]:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.pool.connection(timeout=self.timeout_s) as conn, conn.cursor() as cur:
                    await cur.execute(query, (param,))
                    rows = await cur.fetchall() if cur.description is not None else []
        except (psycopg.Error, PoolTimeout, TimeoutError, OSError) as exc:
            raise RetriableError(f"webhook dedupe table unavailable: {type(exc).__name__}") from exc
        return [bytes(row[0]) for row in rows]

    async def seen(self, keys: Collection[bytes]) -> set[bytes]:
        """The subset of ``keys`` already recorded."""
        if not keys:
            return set()
        return set(await self._run(_SEEN, list(keys)))

    async def record(self, keys: Collection[bytes]) -> set[bytes]:
        """Record ``keys``; returns those that were new (``ON CONFLICT DO NOTHING RETURNING``)."""
        if not keys:
            return set()
        return set(await self._run(_RECORD, sorted(keys)))

    async def purge(self, older_than: timedelta) -> int:
        """Forget keys recorded before ``older_than`` ago (HubSpot stops retrying after ~24 h)."""
        try:
            async with asyncio.timeout(self.timeout_s * 10):
                async with self.pool.connection(timeout=self.timeout_s) as conn:
                    cur = await conn.execute(_PURGE, (older_than,))
                    return int(cur.rowcount)
        except (psycopg.Error, PoolTimeout, TimeoutError, OSError) as exc:
            raise RetriableError(f"webhook dedupe purge failed: {type(exc).__name__}") from exc


class InFlightKeys:
    """Keys some request of this process is publishing now, each with a future that tells whether
    that publish succeeded. Lives on one event loop; not thread-safe."""

    def __init__(self) -> None:
        self._owners: dict[bytes, asyncio.Future[bool]] = {}

    def claim(self, keys: Iterable[bytes]) -> tuple[list[bytes], list[asyncio.Future[bool]]]:
        """Split ``keys`` into those this caller now owns and futures of those others own.
        The caller must :meth:`release` what it owns."""
        loop = asyncio.get_running_loop()
        owned: list[bytes] = []
        waits: list[asyncio.Future[bool]] = []
        for key in keys:
            other = self._owners.get(key)
            if other is not None:
                waits.append(other)
            else:
                self._owners[key] = loop.create_future()
                owned.append(key)
        return owned, waits

    def release(self, keys: Sequence[bytes], *, ok: bool) -> None:
        for key in keys:
            future = self._owners.pop(key, None)
            if future is not None and not future.done():
                future.set_result(ok)

    def __len__(self) -> int:
        return len(self._owners)
