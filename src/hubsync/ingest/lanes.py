"""Ingest's two lanes: webhook-driven changes before backfills (docs/portals.md#fair-sharing).

The worker applies the ``hubspot.*.changes`` topics (webhooks, the incremental poll, pulls by id)
and the ``hubspot.*.backfill`` topics (full reads) in lanes (and consumer groups) of their own, so a
big backfill never sits ahead of another portal's live changes in a partition. They share the process, though:
its PostgreSQL pool and, above all, its one interpreter. :class:`LaneGate` gives the realtime lane
the right of way: a backfill batch starts only when no realtime batch is being applied or waits,
and backfill batches are kept small (``HUBSYNC_INGEST_BACKFILL_BATCH_MAX``), so a realtime batch
that arrives while one runs waits for at most that one small batch's share of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class LaneGate:
    """Realtime batches run at once; backfill batches wait until no realtime batch runs."""

    def __init__(self) -> None:
        self._realtime = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @property
    def realtime_batches(self) -> int:
        return self._realtime

    @contextlib.asynccontextmanager
    async def realtime(self) -> AsyncIterator[None]:
        self._realtime += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._realtime -= 1
            if not self._realtime:
                self._clear.set()

    async def cleared(self) -> None:
        """Return once no realtime batch runs or waits (the backfill lane asks before it takes a batch,
        so it does not hold one while it waits)."""
        while not self._clear.is_set():
            await self._clear.wait()

    @contextlib.asynccontextmanager
    async def backfill(self) -> AsyncIterator[None]:
        while not self._clear.is_set():
            await self._clear.wait()
        yield
