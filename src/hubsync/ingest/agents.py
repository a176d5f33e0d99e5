"""The ingest lanes: ``hubspot.*.changes`` (realtime) and ``hubspot.*.backfill``, each a librdkafka batch
consumer in a group of its own (:class:`~hubsync.streams.batch_consumer.KafkaBatchConsumer`) and a thin
loop over one shared :class:`~hubsync.ingest.processor.IngestProcessor`, run as a service of the
worker's Faust app (whose agents push platform changes). Not Faust agents: Faust's per-message loop
cost the whole per-event budget (docs/performance.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import KafkaException, Message
from mode import Service
from prometheus_client import REGISTRY, CollectorRegistry
from psycopg_pool import ConnectionPool

from hubsync._runtime.shutdown import EXIT_AGENT_FAILED, stop_process
from hubsync.avro.codec import AvroCodec
from hubsync.ingest.lanes import LaneGate
from hubsync.ingest.metrics import ingest_metrics
from hubsync.ingest.processor import IngestProcessor, IngestTopics
from hubsync.matching.domains import load_suffix_lists
from hubsync.settings import Settings, require_database_url
from hubsync.storage.locks import check_lock_budget
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.storage.portal_scope import PortalRouting
from hubsync.streams.batch_consumer import BatchConsumerConfig, KafkaBatchConsumer, run_batches
from hubsync.streams.connection import kafka_connection
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.faust_app import AgentApp
from hubsync.streams.lag import partition_lags
from hubsync.streams.producer import AsyncKafkaPublisher
from hubsync.streams.topics import consumer_groups

log = logging.getLogger(__name__)

#: how often the worker measures its group's consumer lag (``hubsync_consumer_lag_messages``)
LAG_INTERVAL_S = 10.0
#: how often an idle worker reloads its field mappings and says which version it applies
CONTEXT_REFRESH_S = 5.0


def ingest_topics(settings: Settings) -> IngestTopics:
    t = settings.topics
    return IngestTopics(
        sources={
            t.hubspot_contacts: "contact",
            t.hubspot_companies: "account",
            t.hubspot_contacts_backfill: "contact",
            t.hubspot_companies_backfill: "account",
        },
        crm={"contact": t.crm_contacts, "account": t.crm_accounts},
    )


@contextlib.asynccontextmanager
async def ingest_processor(
    settings: Settings, codec: AvroCodec, *, replay: bool = False, registry: CollectorRegistry = REGISTRY
) -> AsyncIterator[IngestProcessor]:
    """An :class:`IngestProcessor` with its PostgreSQL pool and Kafka producer, closed on exit."""
    pool = await asyncio.to_thread(
        open_pool, require_database_url(settings), ingest_pool_config(settings), name="ingest"
    )
    try:
        await asyncio.to_thread(_check_lock_budget, pool, settings)
        async with AsyncKafkaPublisher(kafka_connection(settings), codec) as publisher:
            dlq = DeadLetterPublisher.from_settings(settings, publisher, codec, registry=registry)
            processor = IngestProcessor(
                pool,
                codec,
                publisher,
                dlq,
                ingest_topics(settings),
                ingest_metrics(registry),
                replay=replay,
                routing=PortalRouting.from_settings(settings),
                max_locks=settings.ingest_max_locks,
            )
            try:
                yield processor
            finally:
                await asyncio.to_thread(processor.statistics.wait, 60.0)
    finally:
        await asyncio.to_thread(pool.close)


def ingest_pool_config(settings: Settings) -> PoolConfig:
    """The ingest pool: a connection for each lane consumer's batch (a realtime and a backfill batch
    may run at once), one for the statistics' ANALYZE and one for the mapping refresh."""
    return PoolConfig(min_size=1, max_size=2 * settings.ingest_consumers + 2)


def ingest_lock_demand(settings: Settings) -> int:
    """The most advisory locks one worker's batches hold at once: a batch locks up to
    ``ingest_max_locks`` records and as many matching keys, and each lane runs ``ingest_consumers``
    batches at once (a realtime batch may start while backfill batches run: both lanes count)."""
    return 2 * settings.ingest_max_locks * 2 * settings.ingest_consumers


def check_ingest_lock_budget(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Refuse (:class:`~hubsync.storage.locks.LockBudgetError`) an ``ingest_max_locks`` whose batches
    could fill over a third of the server's lock table (:func:`ingest_lock_demand`)."""
    check_lock_budget(
        conn,
        ingest_lock_demand(settings),
        "HUBSYNC_INGEST_MAX_LOCKS",
        holder=f"a worker's batches ({settings.ingest_consumers} per lane)",
    )


def _check_lock_budget(pool: ConnectionPool[Any], settings: Settings) -> None:
    with pool.connection() as conn:
        check_ingest_lock_budget(conn, settings)


async def shared_ingest_processor(app: AgentApp) -> IngestProcessor:
    """The app's one ingest processor (opened on first use), with its PostgreSQL pool, which other
    parts of the worker (the property definitions' refresh) use too."""
    return await app.resources.get(
        "ingest", lambda: ingest_processor(app.settings, app.codec, registry=app.registry)
    )


@dataclass(frozen=True, slots=True)
class IngestLane:
    """One consumer of a lane: its consumer and whether it is the backfill lane's (which gives way,
    LaneGate). A lane runs ``ingest_consumers`` of them, each its own loop and thread."""

    name: str
    consumer: KafkaBatchConsumer
    backfill: bool


def ingest_lane_configs(settings: Settings) -> tuple[BatchConsumerConfig, BatchConsumerConfig]:
    """The realtime lane's and the backfill lane's consumer settings."""
    t, groups = settings.topics, consumer_groups(settings)
    within = settings.ingest_batch_wait_ms / 1000
    realtime = BatchConsumerConfig(
        group=groups.changes,
        topics=(t.hubspot_contacts, t.hubspot_companies),
        batch_max=settings.ingest_batch_max,
        batch_wait_s=within,
        seed_group=groups.agents,
        session_timeout_s=settings.consumer_session_timeout_s,
        heartbeat_interval_s=settings.consumer_heartbeat_interval_s,
    )
    backfill = BatchConsumerConfig(
        group=groups.backfill,
        topics=(t.hubspot_contacts_backfill, t.hubspot_companies_backfill),
        batch_max=settings.ingest_backfill_batch_max,
        batch_wait_s=within,
        seed_group=groups.agents,
        session_timeout_s=settings.consumer_session_timeout_s,
        heartbeat_interval_s=settings.consumer_heartbeat_interval_s,
    )
    return realtime, backfill


class IngestLanes(Service):
    """Both lanes' loops, started and stopped with the worker's app. A stop lets each lane finish
    (and commit) the batch it is applying; a batch that fails with an error no retry can fix stops
    the process, its offsets uncommitted, so the batch is redelivered at once."""

    def __init__(self, app: AgentApp, lanes: Sequence[IngestLane]) -> None:
        super().__init__()
        self.app = app
        self.lanes = tuple(lanes)
        self.gate = LaneGate()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    async def on_start(self) -> None:
        self._loops = [asyncio.ensure_future(self._run(lane)) for lane in self.lanes]

    async def on_stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # all at once: one closing leaves the group, and the others, no longer polling, would each
        # serve the rebalance that starts inside their own close() in turn
        if self.lanes:
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(len(self.lanes), thread_name_prefix="hubsync-ingest-close") as closing:
                await asyncio.gather(
                    *(loop.run_in_executor(closing, lane.consumer.close) for lane in self.lanes)
                )

    async def _run(self, lane: IngestLane) -> None:
        gate = self.gate
        # the consumer's, the decoding's and the batch's blocking calls: one at a time, in a thread
        # of the lane consumer's own (the loop's default executor is shared, and small)
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"hubsync-ingest-{lane.name}")
        try:
            processor = await shared_ingest_processor(self.app)

            async def process(messages: Sequence[Message]) -> None:
                async with gate.backfill() if lane.backfill else gate.realtime():
                    await processor.process(messages, executor=executor)

            await run_batches(
                lane.consumer,
                process,
                self._stopping,
                before_poll=gate.cleared if lane.backfill else None,
                executor=executor,
            )
        # a batch no retry can fix, the consumer, or the processor's pool: the offsets stay uncommitted
        except Exception:
            log.critical("the %s ingest lane failed; the worker stops", lane.name, exc_info=True)
            stop_process(EXIT_AGENT_FAILED)
        finally:
            executor.shutdown(wait=False)


def add_ingest_lanes(app: AgentApp) -> IngestLanes:
    """The two ingest lanes (a service of ``app``), the lag measurement and the mapping refresh."""
    settings, registry = app.settings, app.registry
    load_suffix_lists()
    metrics = ingest_metrics(registry)
    kafka = kafka_connection(settings)
    realtime, backfill = ingest_lane_configs(settings)
    lanes = IngestLanes(
        app,
        [
            IngestLane(
                f"{name}-{n}",
                KafkaBatchConsumer(kafka, config, client_id=f"{app.conf.id}-{suffix}-{n}"),
                backfill,
            )
            for name, suffix, config, backfill in (
                ("realtime", "changes", realtime, False),
                ("backfill", "backfill", backfill, True),
            )
            for n in range(1, settings.ingest_consumers + 1)
        ],
    )
    app.add_dependency(lanes)
    for lane in lanes.lanes:
        app.consumer_checks.append(lane.consumer.ready)
    reported: set[tuple[str, str]] = set()

    def measure_lag() -> None:
        """The lag of the partitions this worker holds: each partition is measured by its owner only,
        so the broker sees one probe per partition, not one per partition and worker."""
        measured = set()
        # one probe per group: a lane's consumers share theirs, each holding some of its partitions
        held: dict[tuple[str, tuple[str, ...]], set[tuple[str, int]]] = {}
        for lane in lanes.lanes:
            config = lane.consumer.config
            held.setdefault((config.group, config.topics), set()).update(lane.consumer.assignment())
        for (group, topics), assigned in held.items():
            if not assigned:
                continue
            for part in partition_lags(kafka, group, topics, only=frozenset(assigned)):
                labels = (part.topic, str(part.partition))
                metrics.consumer_lag.labels(*labels).set(part.lag)
                measured.add(labels)
        for labels in reported - measured:  # moved to another worker in a rebalance
            metrics.consumer_lag.remove(*labels)
        reported.clear()
        reported.update(measured)

    async def record_lag() -> None:
        """The lanes' lag per partition, measured (see :mod:`hubsync.streams.lag`)."""
        try:
            await asyncio.to_thread(measure_lag)
        except KafkaException as exc:
            log.warning("consumer lag not measured: %s", exc)

    app.timer(interval=LAG_INTERVAL_S)(record_lag)

    async def refresh_context() -> None:
        """Keep this worker's mapping version current while it is idle (see ContextCache)."""
        processor = await shared_ingest_processor(app)
        await asyncio.to_thread(processor.contexts.refresh, processor.pool)

    app.timer(interval=CONTEXT_REFRESH_S)(refresh_context)
    return lanes
