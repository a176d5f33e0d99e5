"""Ingest's lanes: a backfill batch gives way to webhook-driven batches (hubsync.ingest.lanes), and the
lanes' consumer timings come from the settings."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from hubsync._runtime.shutdown import EXIT_AGENT_FAILED
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.ingest import agents
from hubsync.ingest.agents import ingest_lane_configs
from hubsync.ingest.lanes import LaneGate
from hubsync.matching import domains
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
    it consumes in; heartbeats at a third of it, at most every second (a member learns of a rebalance
    from a heartbeat's answer, and the rest of its group waits for it)."""
    monkeypatch.setenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S", "45")
    settings = Settings()
    for config in ingest_lane_configs(settings):
        assert (config.session_timeout_s, config.heartbeat_interval_s) == (45.0, 1.0)
    app = create_app(settings, SingleObjectCodec(SchemaRepository()), CollectorRegistry())
    assert app.conf.broker_session_timeout == 45.0
    assert app.conf.broker_heartbeat_interval == 1.0
    monkeypatch.setenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S", "6")
    assert Settings().consumer_heartbeat_interval_s == 1.0
    monkeypatch.delenv("HUBSYNC_CONSUMER_SESSION_TIMEOUT_S")
    assert Settings().consumer_heartbeat_interval_s == 1.0  # the default 10 s: a third would be 3.3 s
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


def test_each_lane_runs_the_configured_number_of_consumers_in_its_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBSYNC_INGEST_CONSUMERS", "2")
    settings = Settings()
    app = create_app(settings, SingleObjectCodec(SchemaRepository()), CollectorRegistry())
    lanes = agents.add_ingest_lanes(app)
    assert [(lane.name, lane.backfill) for lane in lanes.lanes] == [
        ("realtime-1", False),
        ("realtime-2", False),
        ("backfill-1", True),
        ("backfill-2", True),
    ]
    realtime, backfill = ingest_lane_configs(settings)
    assert [lane.consumer.config for lane in lanes.lanes] == [realtime, realtime, backfill, backfill]
    # a connection for each consumer's batch, one for ANALYZE and one for the mapping refresh
    assert agents.ingest_pool_config(settings).max_size == 6
    monkeypatch.setenv("HUBSYNC_INGEST_CONSUMERS", "0")
    with pytest.raises(ValueError, match="ingest_consumers"):
        Settings()


def test_the_worker_parses_the_public_suffix_lists_before_its_first_batch() -> None:
    """Parsed lazily, the lists took the first batch naming a company domain ~70 ms longer (in the
    benchmark's profile, inside its measured phase)."""
    domains._psl.cache_clear()
    domains._psl_icann.cache_clear()
    app = create_app(Settings(), SingleObjectCodec(SchemaRepository()), CollectorRegistry())
    agents.add_ingest_lanes(app)
    assert domains._psl.cache_info().currsize == 1
    assert domains._psl_icann.cache_info().currsize == 1


class _OneBatchConsumer:
    """A lane consumer that hands out one batch, then nothing."""

    def __init__(self) -> None:
        self.batches = [["message"]]
        self.committed: list[object] = []

    def subscribe(self) -> None:
        pass

    def poll_batch(self) -> list[str]:
        time.sleep(0.01)
        return self.batches.pop() if self.batches else []

    def commit(self, messages: object) -> bool:
        self.committed.append(messages)
        return True

    def close(self) -> None:
        pass


def test_a_lanes_consumers_apply_their_batches_at_once_each_in_a_thread_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two realtime consumers' batches are applied at the same time (each waits for the other to
    start), in two threads, neither the event loop's."""
    started = threading.Barrier(2, timeout=10)
    threads: list[str] = []

    class Processor:
        async def process(self, messages: object, *, executor: object = None) -> None:
            def work() -> None:
                threads.append(threading.current_thread().name)
                started.wait()

            await asyncio.get_running_loop().run_in_executor(executor, work)  # type: ignore[arg-type]

    async def shared(app: object) -> Processor:
        return Processor()

    monkeypatch.setattr(agents, "shared_ingest_processor", shared)
    consumers = [_OneBatchConsumer(), _OneBatchConsumer()]

    async def scenario() -> None:
        lanes = agents.IngestLanes(
            SimpleNamespace(),  # type: ignore[arg-type]
            [agents.IngestLane(f"realtime-{n}", c, False) for n, c in enumerate(consumers, 1)],  # type: ignore[arg-type]
        )
        await lanes.on_start()
        while not all(c.committed for c in consumers):
            await asyncio.sleep(0.01)
        await lanes.on_stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sorted(name.rsplit("_", 1)[0] for name in threads) == [
        "hubsync-ingest-realtime-1",
        "hubsync-ingest-realtime-2",
    ]
    assert all(c.committed == [["message"]] for c in consumers)
