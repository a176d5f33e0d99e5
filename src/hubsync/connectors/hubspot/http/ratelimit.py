"""Client-side pacing for HubSpot's rate limits: one bucket per portal, priority lanes.

HubSpot's burst limit is a *rolling* window (``TEN_SECONDLY_ROLLING``: at most N requests in
any 10 s). A classic token bucket (capacity N, refilled at N/10 per second) overshoots such a
window by up to 2x right after an idle period, so :class:`RollingWindowBucket` models the
window itself: a request holds a slot from the moment it is admitted until its answer
arrives, and for one window after that (HubSpot stamps the request somewhere in between, so
the slot never frees before HubSpot's does). ``free = limit - in_flight - answered_in_window``.

The headers correct the model (:meth:`RollingWindowBucket.observe`): ``-Max`` and
``-Interval-Milliseconds`` replace the limit and the window, and a ``-Remaining`` lower than the
local estimate means someone else (another app or process on the portal) spends the budget:
the difference is booked as phantom requests. A ten-secondly 429 books the whole window
(:meth:`RollingWindowBucket.saturate`).

Waiters queue per :class:`Lane`; a lower lane is served only when no higher lane waits, so
webhook-driven work (``REALTIME``) always goes ahead of ``BACKFILL``. Each lane is FIFO. A portal's
burst bucket paces its ``BACKFILL`` requests evenly over the window (``pace_backfill``): a backfill
never spends a window's budget in its first second, so the portal's realtime requests find budget
and the pipeline behind the backfill gets a steady flow, not a flood.

Buckets are asyncio objects: the registry (:func:`portal_limits`) keeps one set per portal
(base URL + token hash) *per event loop*, i.e. per process for hubsync's one-loop processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from enum import IntEnum


class Lane(IntEnum):
    """Priority of a request; lower values are served first."""

    REALTIME = 0
    BACKFILL = 1


class RollingWindowBucket:
    """At most ``limit`` requests per rolling ``window_s``, granted in lane order.

    ``window_s=0`` makes it a priority semaphore (slots free as soon as they are released).
    ``probe=True`` admits one request at a time until :meth:`observe` learns the limit.
    Not thread-safe: use it from one event loop.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        probe: bool = False,
        pace_backfill: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit <= 0 or window_s < 0:
            raise ValueError(f"need limit > 0 and window_s >= 0, got {limit}, {window_s}")
        self._limit = limit
        #: until HubSpot's headers confirm the limits, admit one request at a time (a portal on
        #: a lower tier than configured would otherwise take a burst of 429s at start-up)
        self._probing = probe
        self._window_s = window_s
        self._clock = clock
        self._in_flight = 0
        self._expiries: deque[float] = deque()
        self._waiters: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}
        self._timer: asyncio.TimerHandle | None = None
        #: ``BACKFILL`` requests are spread over the window (one every ``window / limit``) instead of
        #: spending its whole budget at once: a backfill's first second then neither floods the
        #: pipeline behind it nor leaves the portal's realtime requests without budget for a window
        self._pace_backfill = pace_backfill
        self._backfill_next = float("-inf")

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def waiting(self, lane: Lane | None = None) -> int:
        lanes = list(Lane) if lane is None else [lane]
        return sum(1 for ln in lanes for fut in self._waiters[ln] if not fut.done())

    def available(self) -> int:
        """Slots free right now."""
        now, expiries = self._clock(), self._expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()
        free = max(0, self._limit - self._in_flight - len(expiries))
        return min(free, max(0, 1 - self._in_flight)) if self._probing else free

    def _paced(self, lane: Lane) -> bool:
        """Whether a ``lane`` request must wait for its pace (see ``pace_backfill``)."""
        return self._pace_backfill and lane is Lane.BACKFILL and self._clock() < self._backfill_next

    def _granted(self, lane: Lane) -> None:
        self._in_flight += 1
        if self._pace_backfill and lane is Lane.BACKFILL and self._window_s > 0:
            self._backfill_next = self._clock() + self._window_s / self._limit

    async def acquire(self, lane: Lane = Lane.BACKFILL) -> None:
        """Wait for a slot; pair every successful call with :meth:`release`."""
        if not self.waiting() and self.available() > 0 and not self._paced(lane):
            self._granted(lane)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[lane].append(future)
        if lane is Lane.REALTIME and self.available() > 0:
            self._dispatch()  # not left waiting for a backfill's pacing timer
        else:
            self._schedule()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(sent=False)  # granted, then cancelled before use: hand it on
            else:
                self._discard(lane, future)
            raise

    def release(self, *, sent: bool = True) -> None:
        """Give the slot back; one that reached HubSpot (``sent``) stays booked for a window."""
        self._in_flight -= 1
        if sent and self._window_s > 0:
            self._expiries.append(self._clock() + self._window_s)
        self._dispatch()

    @asynccontextmanager
    async def slot(self, lane: Lane = Lane.BACKFILL) -> AsyncIterator[None]:
        await self.acquire(lane)
        try:
            yield
        finally:
            self.release()

    def observe(self, *, limit: int | None, remaining: int | None, window_s: float | None) -> None:
        """Correct the model with HubSpot's ``-Max``, ``-Remaining`` and ``-Interval-Milliseconds``
        headers of an answer whose slot is still held (call before :meth:`release`). The first
        answer ends the probing phase, headers or not (then the configured limit stands)."""
        self._probing = False
        if window_s is not None and window_s > 0:
            self._window_s = window_s
        if limit is not None and limit > 0:
            self._limit = limit
        if remaining is not None:
            self._book(self.available() - max(0, remaining))
        self._dispatch()

    def saturate(self) -> None:
        """HubSpot says the window is full (a 429): book every free slot for one window."""
        self._book(self.available())
        self._schedule()

    def _book(self, phantoms: int) -> None:
        if phantoms > 0 and self._window_s > 0:
            self._expiries.extend([self._clock() + self._window_s] * phantoms)

    def _discard(self, lane: Lane, future: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters[lane].remove(future)
        self._dispatch()

    def _dispatch(self) -> None:
        """Grant free slots, highest lane first; never let a lower lane jump a waiting higher one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        free = self.available()
        for lane in Lane:
            queue = self._waiters[lane]
            while queue and free > 0 and not self._paced(lane):
                future = queue.popleft()
                if future.done():
                    continue
                future.set_result(None)
                self._granted(lane)
                free -= 1
            if any(not f.done() for f in queue):
                break
        self._schedule()

    def _schedule(self) -> None:
        """Wake up when the oldest booked slot leaves the window, if someone waits for it."""
        if self._timer is not None or not self.waiting():
            return
        if self.available() > 0:
            if not self.waiting(Lane.REALTIME) and self._paced(Lane.BACKFILL):
                delay = self._backfill_next - self._clock()
                self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
                return
            asyncio.get_running_loop().call_soon(self._dispatch)
            return
        if self._expiries:
            delay = max(0.0, self._expiries[0] - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
        # else: every slot is in flight; the next release() dispatches


@dataclass(frozen=True, slots=True)
class PortalLimits:
    """The buckets of one portal: the burst window and search's own per-second limit."""

    burst: RollingWindowBucket
    search: RollingWindowBucket


_registry_lock = threading.Lock()
_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], PortalLimits]] = (
    weakref.WeakKeyDictionary()
)


def portal_key(base_url: str, token: str) -> tuple[str, str]:
    """(base URL, a SHA-256 prefix of the token): never the token itself."""
    return base_url.rstrip("/"), hashlib.sha256(token.encode()).hexdigest()[:16]


def portal_limits(
    key: tuple[str, str], *, burst_limit: int, burst_window_s: float, search_per_second: int
) -> PortalLimits:
    """The shared buckets of the portal ``key`` in the running loop (created on first use with
    these limits; later callers share them, and the headers correct them)."""
    loop = asyncio.get_running_loop()
    with _registry_lock:
        portals = _registry.setdefault(loop, {})
        limits = portals.get(key)
        if limits is None:
            limits = PortalLimits(
                burst=RollingWindowBucket(burst_limit, burst_window_s, probe=True, pace_backfill=True),
                search=RollingWindowBucket(search_per_second, 1.0),
            )
            portals[key] = limits
        return limits
