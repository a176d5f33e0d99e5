"""``hubsync worker``: the Faust app whose agents ingest ``hubspot.*.changes``.

The agents are thin loops: take a batch of events without acknowledging them
(``noack_take``), hand the raw messages to :class:`~hubsync.ingest.processor.IngestProcessor`,
and acknowledge them only after it returned (PostgreSQL committed, dead letters and canonical
records acknowledged by Kafka). Faust commits acknowledged offsets only, so a crash anywhere
before that redelivers the batch: at-least-once, made idempotent by the version guards.

Scaling out is Kafka's: every worker joins one consumer group (``HUBSYNC_CONSUMER_GROUP``
+ ``.ingest``) and gets a share of the partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import faust
from mode import ServiceT
from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.ingest.metrics import ingest_metrics
from hubsync.ingest.processor import IngestProcessor, IngestTopics
from hubsync.push.agent import PushProcessor
from hubsync.push.runtime import push_processor
from hubsync.records.kinds import ObjectKind
from hubsync.settings import Settings, require_database_url, require_kafka
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.producer import AsyncKafkaPublisher

log = logging.getLogger(__name__)
T = TypeVar("T")
#: platform-side changes per push batch: a few HubSpot batch requests of 100 records
PUSH_BATCH_MAX = 500

#: confluent-kafka's timestamp types are aiokafka's plus one (0 means "not available" there)
_TIMESTAMP_TYPE_OFFSET = 1


class FaustRecord:
    """A Faust/aiokafka message seen through the :class:`~hubsync.streams.decode.KafkaRecord` protocol."""

    __slots__ = ("_message",)

    def __init__(self, message: Any) -> None:
        self._message = message

    def topic(self) -> str | None:
        return str(self._message.topic)

    def partition(self) -> int | None:
        return int(self._message.partition)

    def offset(self) -> int | None:
        return int(self._message.offset)

    def key(self) -> bytes | None:
        key = self._message.key
        return None if key is None else bytes(key)

    def value(self) -> bytes | None:
        value = self._message.value
        return None if value is None else bytes(value)

    def timestamp(self) -> tuple[int, int]:
        ts = self._message.timestamp
        if ts is None:
            return 0, 0
        return int(self._message.timestamp_type or 0) + _TIMESTAMP_TYPE_OFFSET, int(ts * 1000)


@contextlib.asynccontextmanager
async def ingest_processor(
    settings: Settings, codec: AvroCodec, *, replay: bool = False, registry: CollectorRegistry = REGISTRY
) -> AsyncIterator[IngestProcessor]:
    """An :class:`IngestProcessor` with its PostgreSQL pool and Kafka producer, closed on exit."""
    pool = await asyncio.to_thread(
        open_pool, require_database_url(settings), PoolConfig(min_size=1, max_size=4), name="ingest"
    )
    try:
        async with AsyncKafkaPublisher(require_kafka(settings), codec) as publisher:
            dlq = DeadLetterPublisher.from_settings(settings, publisher, codec, registry=registry)
            processor = IngestProcessor(
                pool, codec, publisher, dlq, ingest_topics(settings), ingest_metrics(registry), replay=replay
            )
            try:
                yield processor
            finally:
                await asyncio.to_thread(processor.statistics.wait, 60.0)
    finally:
        await asyncio.to_thread(pool.close)


@dataclass
class WorkerResources:
    """What the agents share; opened lazily inside the worker's event loop."""

    settings: Settings
    codec: AvroCodec
    registry: CollectorRegistry
    processor: IngestProcessor | None = None
    pusher: PushProcessor | None = None
    _stack: contextlib.AsyncExitStack | None = None
    _lock: asyncio.Lock | None = None

    async def _enter(self, manager: contextlib.AbstractAsyncContextManager[T]) -> T:
        if self._stack is None:
            self._stack = contextlib.AsyncExitStack()
        return await self._stack.enter_async_context(manager)

    async def get(self) -> IngestProcessor:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.processor is None:
                self.processor = await self._enter(
                    ingest_processor(self.settings, self.codec, registry=self.registry)
                )
            return self.processor

    async def push(self) -> PushProcessor:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.pusher is None:
                self.pusher = await self._enter(
                    push_processor(self.settings, self.codec, registry=self.registry)
                )
            return self.pusher

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()


def ingest_topics(settings: Settings) -> IngestTopics:
    t = settings.topics
    return IngestTopics(
        sources={t.hubspot_contacts: "contact", t.hubspot_companies: "account"},
        crm={"contact": t.crm_contacts, "account": t.crm_accounts},
    )


class IngestApp(faust.App):
    """The Faust app, closing the shared resources after the agents stopped."""

    resources: WorkerResources

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """As Faust's, without its Monitor sensor: it runs on every event (a dict update per event
        and stream), a measurable share of the agent's time; hubsync records its metrics per batch."""
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        await self.resources.close()


def _datadir(app_id: str) -> Path:
    path = Path(tempfile.gettempdir()) / "hubsync-faust" / app_id
    path.mkdir(parents=True, exist_ok=True)  # Faust does not create its parents
    return path


def build_app(settings: Settings, codec: AvroCodec, *, registry: CollectorRegistry = REGISTRY) -> IngestApp:
    """The worker app: one ingest agent per ``hubspot.*.changes`` topic (batches of
    ``ingest_batch_max`` events) and, when HubSpot access is configured, one push agent per
    ``platform.*.changes`` topic."""
    brokers = [f"kafka://{host.strip()}" for host in require_kafka(settings).split(",") if host.strip()]
    app = IngestApp(
        f"{settings.consumer_group}.ingest",
        broker=brokers,
        autodiscover=False,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_interval=1.0,
        # a killed worker's partitions move to the others after 10 s, not Faust's default 60 s
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        stream_wait_empty=False,
        producer_acks=-1,
        # Faust keeps table state there; hubsync has no tables (memory store), so a temporary
        # directory rather than one per consumer group in the working directory
        datadir=str(_datadir(f"{settings.consumer_group}.ingest")),
    )
    app.resources = WorkerResources(settings, codec, registry)
    metrics = ingest_metrics(registry)
    within = settings.ingest_batch_wait_ms / 1000
    kinds: dict[str, ObjectKind] = dict(ingest_topics(settings).sources)
    for topic_name, kind in kinds.items():
        topic = app.topic(topic_name, key_type=bytes, value_type=bytes)

        async def agent(stream: Any, _kind: ObjectKind = kind) -> None:
            processor = await app.resources.get()
            async for batch in stream.noack_take(settings.ingest_batch_max, within=within):
                events: Sequence[Any] = batch
                await processor.process([FaustRecord(e.message) for e in events])
                for event in events:
                    await stream.ack(event)
                last = events[-1].message
                highwater = app.consumer.highwater(last.tp)
                if highwater is not None:
                    metrics.consumer_lag.labels(topic=last.topic, partition=str(last.partition)).set(
                        max(0, highwater - last.offset - 1)
                    )

        app.agent(topic, name=f"ingest-{kind}")(agent)
    if settings.hubspot_access_token is not None:
        _add_push_agents(app, settings)
    return app


def _add_push_agents(app: IngestApp, settings: Settings) -> None:
    """The push agents: platform-side changes into HubSpot (needs HubSpot access)."""
    within = settings.ingest_batch_wait_ms / 1000
    for topic_name in (settings.topics.platform_contacts, settings.topics.platform_accounts):
        topic = app.topic(topic_name, key_type=bytes, value_type=bytes)

        async def agent(stream: Any) -> None:
            pusher = await app.resources.push()
            async for batch in stream.noack_take(PUSH_BATCH_MAX, within=within):
                events: Sequence[Any] = batch
                await pusher.process([FaustRecord(e.message) for e in events])
                for event in events:
                    await stream.ack(event)

        app.agent(topic, name=f"push-{topic_name}")(agent)


def run_worker(settings: Settings, codec: AvroCodec) -> None:
    """Run the ingest worker until SIGINT/SIGTERM (Faust's worker handles the signals)."""
    try:
        import uvloop  # measured: Faust's per-event overhead is about 1.7x lower on uvloop
    except ImportError:  # pragma: no cover - optional on platforms without uvloop wheels
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build_app(settings, codec)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, override_logging=False)
    worker.execute_from_commandline()
