"""Ingest's lanes: a backfill batch gives way to webhook-driven batches (hubsync.ingest.lanes)."""

from __future__ import annotations

import asyncio

from hubsync.ingest.lanes import LaneGate


def test_a_backfill_batch_starts_only_once_no_realtime_batch_runs() -> None:
    async def scenario() -> list[str]:
        gate = LaneGate()
        order: list[str] = []
        release_realtime = asyncio.Event()

        async def realtime(name: str) -> None:
            async with gate.realtime():
                order.append(f"{name} starts")
                await release_realtime.wait()
                order.append(f"{name} ends")

        async def backfill() -> None:
            async with gate.backfill():
                order.append("backfill starts")

        first = asyncio.create_task(realtime("r1"))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(backfill())
        second = asyncio.create_task(realtime("r2"))  # arrives after the backfill, still goes first
        await asyncio.sleep(0.01)
        assert gate.realtime_batches == 2 and not waiting.done()
        release_realtime.set()
        await asyncio.gather(first, second, waiting)
        return order

    order = asyncio.run(scenario())
    assert order.index("backfill starts") > max(order.index("r1 ends"), order.index("r2 ends"))
    assert order.index("r2 starts") < order.index("backfill starts")


def test_backfill_batches_run_at_once_when_no_realtime_batch_runs() -> None:
    async def scenario() -> bool:
        gate = LaneGate()
        async with gate.backfill():
            return True

    assert asyncio.run(scenario())


def test_the_backfill_lane_asks_for_a_batch_only_once_no_realtime_batch_runs() -> None:
    async def scenario() -> list[str]:
        gate = LaneGate()
        order: list[str] = []
        release = asyncio.Event()

        async def realtime() -> None:
            async with gate.realtime():
                order.append("realtime starts")
                await release.wait()
                order.append("realtime ends")

        async def backfill_lane() -> None:
            await gate.cleared()  # run_batches' before_poll: no batch is held while it waits
            order.append("backfill polls")

        running = asyncio.create_task(realtime())
        await asyncio.sleep(0)
        polling = asyncio.create_task(backfill_lane())
        await asyncio.sleep(0.01)
        assert not polling.done()
        release.set()
        await asyncio.gather(running, polling)
        await gate.cleared()  # nothing runs: at once
        return order

    assert asyncio.run(scenario()) == ["realtime starts", "realtime ends", "backfill polls"]
