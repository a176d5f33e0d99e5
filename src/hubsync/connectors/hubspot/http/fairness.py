"""Fair sharing of one process's HubSpot requests across the portals it serves (docs/portals.md).

Each portal has its own rate-limit buckets (:mod:`~hubsync.connectors.hubspot.http.ratelimit`):
HubSpot counts requests per installing portal, so one portal cannot spend another's budget. What
the portals do share is the process: its connections, its event loop, the time of the host.
:class:`FairShare` bounds the requests in flight across all portals and decides who goes next
when more are ready than may go:

* **lanes first**: a waiting ``REALTIME`` request (webhook-driven reads, pushes) goes before any
  ``BACKFILL`` request, whichever portal it belongs to;
* **then portals, round-robin weighted**: inside a lane, the portals with waiting requests take
  turns; a portal of weight *w* is granted up to *w* requests per turn (deficit round-robin with
  a quantum of one request). The weight is what HubSpot lets the portal send (its burst limit in
  tens: 11 for a public app's 110 per 10 s, 19 for 190), so each portal gets a share of the
  process in proportion to its own budget and a portal's million-record backfill waits its turn
  behind every other portal's single page;
* each (lane, portal) queue is FIFO.

A request acquires its share only once its portal's own bucket admitted it, so a portal waiting
for its budget never holds a slot another portal could use. Asyncio object: one per event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager, suppress

from hubsync.connectors.hubspot.http.ratelimit import Lane


class FairShare:
    """At most ``capacity`` requests in flight, granted in lane order, then weighted round-robin
    across portals; see the module docstring."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._in_flight = 0
        #: per lane, the portals with waiters in turn order, each with its FIFO of waiters
        self._queues: dict[Lane, OrderedDict[Hashable, deque[asyncio.Future[None]]]] = {
            lane: OrderedDict() for lane in Lane
        }
        #: per lane, the grants left in the current turn of the portal at the head
        self._credit: dict[Lane, int] = dict.fromkeys(Lane, 0)
        self._weights: dict[Hashable, int] = {}
        #: grants per portal since creation (what :meth:`granted` reports)
        self._granted: dict[Hashable, int] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def waiting(self, lane: Lane | None = None) -> int:
        lanes = list(Lane) if lane is None else [lane]
        return sum(
            1 for ln in lanes for queue in self._queues[ln].values() for fut in queue if not fut.done()
        )

    def granted(self, portal: Hashable) -> int:
        return self._granted.get(portal, 0)

    async def acquire(self, portal: Hashable, lane: Lane = Lane.BACKFILL, *, weight: int = 1) -> None:
        """Wait for a slot for ``portal``; pair every successful call with :meth:`release`."""
        self._weights[portal] = max(1, int(weight))
        if self._in_flight < self.capacity and not any(self._queues[ln] for ln in Lane):
            self._grant(portal)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[lane].setdefault(portal, deque()).append(future)
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted, then cancelled before use: hand it on
            else:
                self._discard(lane, portal, future)
            raise

    def release(self) -> None:
        self._in_flight -= 1
        self._dispatch()

    @asynccontextmanager
    async def slot(
        self, portal: Hashable, lane: Lane = Lane.BACKFILL, *, weight: int = 1
    ) -> AsyncIterator[None]:
        await self.acquire(portal, lane, weight=weight)
        try:
            yield
        finally:
            self.release()

    def _grant(self, portal: Hashable) -> None:
        self._in_flight += 1
        self._granted[portal] = self._granted.get(portal, 0) + 1

    def _discard(self, lane: Lane, portal: Hashable, future: asyncio.Future[None]) -> None:
        queue = self._queues[lane].get(portal)
        if queue is not None:
            with suppress(ValueError):
                queue.remove(future)
            if not queue:
                self._end_turn(lane, portal, drop=True)
        self._dispatch()

    def _end_turn(self, lane: Lane, portal: Hashable, *, drop: bool) -> None:
        """``portal``'s turn in ``lane`` is over: to the back of the line, or out when it waits no more."""
        queues = self._queues[lane]
        head = next(iter(queues), None)
        if drop:
            queues.pop(portal, None)
        elif portal in queues:
            queues.move_to_end(portal)
        if head == portal:
            self._credit[lane] = 0

    def _dispatch(self) -> None:
        while self._in_flight < self.capacity:
            lane = next((ln for ln in Lane if self._queues[ln]), None)
            if lane is None:
                return
            queues = self._queues[lane]
            portal, queue = next(iter(queues.items()))
            while queue and queue[0].done():  # cancelled waiters
                queue.popleft()
            if not queue:
                self._end_turn(lane, portal, drop=True)
                continue
            if self._credit[lane] <= 0:
                self._credit[lane] = self._weights.get(portal, 1)
            queue.popleft().set_result(None)
            self._grant(portal)
            self._credit[lane] -= 1
            if not queue:
                self._end_turn(lane, portal, drop=True)
            elif self._credit[lane] <= 0:
                self._end_turn(lane, portal, drop=False)
