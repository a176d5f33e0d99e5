"""The portal bucket: rolling-window pacing, header corrections, priority lanes; and against the
sandbox: no 429 storm under 200 concurrent requests, REALTIME ahead of BACKFILL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.ratelimit import Lane, RollingWindowBucket, portal_key, portal_limits
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import Control, make_client


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_rolling_window_paces_and_frees_one_window_after_release() -> None:
    async def main() -> None:
        bucket = RollingWindowBucket(3, 0.2)
        for _ in range(3):
            await bucket.acquire()
        assert bucket.available() == 0
        released = time.monotonic()
        for _ in range(3):
            bucket.release()
        await bucket.acquire()  # freed: a slot comes back, one window after the release...
        assert time.monotonic() - released >= 0.19  # ...and not before
        bucket.release()

    asyncio.run(main())


def test_in_flight_requests_hold_their_slot() -> None:
    async def main() -> None:
        bucket = RollingWindowBucket(2, 0.05)
        await bucket.acquire()
        await bucket.acquire()
        waiter = asyncio.create_task(bucket.acquire())
        await asyncio.sleep(0.15)  # longer than the window: still nothing freed (both in flight)
        assert not waiter.done()
        bucket.release()
        await asyncio.sleep(0.02)
        assert not waiter.done()  # released, but booked for a window
        await asyncio.wait_for(waiter, 1)

    asyncio.run(main())


def test_realtime_lane_goes_first_and_lanes_are_fifo() -> None:
    async def main() -> None:
        bucket = RollingWindowBucket(1, 0.0)  # a priority semaphore
        await bucket.acquire()
        order: list[str] = []

        async def take(name: str, lane: Lane) -> None:
            await bucket.acquire(lane)
            order.append(name)
            bucket.release()

        tasks = [asyncio.create_task(take(f"b{i}", Lane.BACKFILL)) for i in range(3)]
        await _settle()
        tasks += [asyncio.create_task(take(f"r{i}", Lane.REALTIME)) for i in range(2)]
        await _settle()
        assert bucket.waiting(Lane.BACKFILL) == 3 and bucket.waiting(Lane.REALTIME) == 2
        bucket.release()
        await asyncio.gather(*tasks)
        assert order == ["r0", "r1", "b0", "b1", "b2"]

    asyncio.run(main())


def test_cancelled_waiters_leak_no_slot() -> None:
    async def main() -> None:
        bucket = RollingWindowBucket(1, 0.0)
        await bucket.acquire()
        waiter = asyncio.create_task(bucket.acquire(Lane.REALTIME))
        await _settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        bucket.release()
        assert bucket.available() == 1 and bucket.waiting() == 0
        # granted, then cancelled before it ran: the slot is handed on
        await bucket.acquire()
        granted = asyncio.create_task(bucket.acquire())
        await _settle()
        bucket.release()
        granted.cancel()
        with pytest.raises(asyncio.CancelledError):
            await granted
        assert bucket.in_flight == 0 and bucket.available() == 1

    asyncio.run(main())


def test_headers_correct_the_model() -> None:
    async def main() -> None:
        bucket = RollingWindowBucket(190, 10.0, probe=True)
        await bucket.acquire()
        assert bucket.available() == 0  # probing: one at a time until HubSpot answers
        bucket.observe(limit=100, remaining=60, window_s=10.0)  # another app used 39
        assert bucket.limit == 100
        assert bucket.available() == 60
        bucket.release()
        assert bucket.available() == 60  # our request stays booked for the window
        bucket.saturate()  # a ten-secondly 429
        assert bucket.available() == 0
        bucket.observe(limit=None, remaining=None, window_s=None)  # no headers: nothing changes
        assert bucket.limit == 100

    asyncio.run(main())


def test_one_bucket_per_portal_and_loop() -> None:
    async def main() -> None:
        a = portal_limits(
            portal_key("https://api.hubapi.com/", "t1"),
            burst_limit=190,
            burst_window_s=10,
            search_per_second=5,
        )
        b = portal_limits(
            portal_key("https://api.hubapi.com", "t1"),
            burst_limit=100,
            burst_window_s=10,
            search_per_second=4,
        )
        c = portal_limits(
            portal_key("https://api.hubapi.com", "t2"),
            burst_limit=190,
            burst_window_s=10,
            search_per_second=5,
        )
        assert a is b and a is not c
        assert "t1" not in repr(portal_key("https://x", "t1"))

    asyncio.run(main())


def _run_clients(sandbox: ThreadedSandbox, scenario: Any, **config: Any) -> Any:
    async def main() -> Any:
        async with make_client(sandbox.base_url, **config) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_no_429_storm_under_200_concurrent_requests(sandbox: ThreadedSandbox, control: Control) -> None:
    control.limits(burst_limit=20, burst_window_s=0.5)

    async def scenario(_client: HubSpotClient) -> list[int]:
        # two clients of the same portal share one bucket
        async with make_client(sandbox.base_url, max_concurrency=16) as other:
            calls = [(_client if i % 2 else other).get_page("contacts", limit=1) for i in range(200)]
            pages = await asyncio.gather(*calls)
        return [len(p.results) for p in pages]

    results = _run_clients(sandbox, scenario, max_concurrency=16)
    assert len(results) == 200
    statuses = control.statuses()
    assert len(statuses) - statuses.count(429) == 200  # every request succeeded eventually
    assert statuses.count(429) <= 2, f"{statuses.count(429)} answers were 429"


def test_realtime_requests_overtake_queued_backfill(sandbox: ThreadedSandbox, control: Control) -> None:
    control.limits(burst_limit=3, burst_window_s=0.3)

    async def scenario(client: HubSpotClient) -> tuple[list[str], int]:
        await client.get_page("contacts", limit=1)  # learn the limits from the headers
        order: list[str] = []

        async def call(name: str, lane: Lane) -> None:
            await client.get_page("contacts", limit=1, lane=lane)
            order.append(name)

        tasks = [asyncio.create_task(call(f"backfill{i}", Lane.BACKFILL)) for i in range(9)]
        await _settle()
        tasks += [asyncio.create_task(call(f"realtime{i}", Lane.REALTIME)) for i in range(4)]
        # the backfill requests that already held a slot when the realtime ones queued
        # (normally 2: the warm-up holds the third slot for a window)
        granted = 9 - client.limits().burst.waiting(Lane.BACKFILL)
        await asyncio.gather(*tasks)
        return order, granted

    # one request at a time: the completion order is the order the lanes granted
    order, granted = _run_clients(sandbox, scenario, max_concurrency=1)
    assert granted < 9
    last_realtime = max(order.index(f"realtime{i}") for i in range(4))
    first_queued_backfill = order.index(f"backfill{granted}")
    assert last_realtime < first_queued_backfill, order
    assert [name for name in order if name.startswith("backfill")] == [f"backfill{i}" for i in range(9)]
    assert 429 not in control.statuses()


def test_a_paced_bucket_spreads_backfill_over_the_window_and_lets_realtime_through() -> None:
    async def main() -> tuple[float, bool, bool]:
        bucket = RollingWindowBucket(10, 1.0, pace_backfill=True)  # one backfill request per 0.1 s
        started = time.monotonic()
        for _ in range(4):
            await bucket.acquire(Lane.BACKFILL)
        backfill = time.monotonic() - started
        # the window's budget is still there for realtime requests at once; the next backfill waits
        later = asyncio.create_task(bucket.acquire(Lane.BACKFILL))
        now = asyncio.create_task(bucket.acquire(Lane.REALTIME))
        await _settle()
        done = (now.done(), later.done())
        await later
        return backfill, *done

    backfill, realtime_granted, backfill_granted = asyncio.run(main())
    assert backfill >= 0.29  # 4 requests: at 0, 0.1, 0.2 and 0.3 s, not all at once
    assert realtime_granted and not backfill_granted
