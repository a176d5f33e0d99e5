"""Ingest's lanes: a backfill batch gives way to webhook-driven batches (hubsync.ingest.lanes), and the
lanes' consumer timings come from the settings."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from hubsync._runtime.shutdown import EXIT_AGENT_FAILED
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.ingest import agents
from hubsync.ingest.agents import ingest_lane_configs
from hubsync.ingest.lanes import LaneGate
from hubsync.settings import Settings
from hubsync.storage.locks import LockBudgetError
from hubsync.streams.faust_app import create_app


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


def test_both_lanes_and_the_push_agents_use_the_configured_session_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HUBSYNC_CONSUMER_SESSION_TIMEOUT_S: how long a silent worker keeps its partitions, in every group
    it consumes in; heartbeats at a third of it, at most 3 s."""
    monkeypatch.setenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S", "45")
    settings = Settings()
    for config in ingest_lane_configs(settings):
        assert (config.session_timeout_s, config.heartbeat_interval_s) == (45.0, 3.0)
    app = create_app(settings, SingleObjectCodec(SchemaRepository()), CollectorRegistry())
    assert app.conf.broker_session_timeout == 45.0
    assert app.conf.broker_heartbeat_interval == 3.0
    monkeypatch.setenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S", "6")
    assert Settings().consumer_heartbeat_interval_s == 2.0
    monkeypatch.setenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S", "5")
    with pytest.raises(ValueError, match="consumer_session_timeout_s"):
        Settings()


def test_a_lane_whose_processor_cannot_open_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared processor fails to open (here: the lock budget refused once PostgreSQL answers): the
    lane stops the process with EXIT_AGENT_FAILED instead of dying alone while the worker runs on."""
    stopped: list[int] = []
    monkeypatch.setattr(agents, "stop_process", stopped.append)

    class Resources:
        async def get(self, name: str, factory: object) -> object:
            raise LockBudgetError("HUBSYNC_INGEST_MAX_LOCKS lets one transaction take too many locks")

    app = SimpleNamespace(resources=Resources())
    lanes = agents.IngestLanes(app, [])  # type: ignore[arg-type]
    lane = agents.IngestLane("realtime", consumer=None, backfill=False)  # type: ignore[arg-type]
    asyncio.run(lanes._run(lane))
    assert stopped == [EXIT_AGENT_FAILED]
