"""hubsync's Faust app: the push agents, the worker's timers, and the ingest lanes as a service.

:func:`create_app` makes the app with hubsync's consumer settings; :mod:`hubsync.push.agents` adds
its agents and :mod:`hubsync.ingest.agents` its lanes (librdkafka consumers of their own, not Faust
agents: :mod:`hubsync.streams.batch_consumer`); :mod:`hubsync.worker` puts them together. Every
agent is the same thin loop, :func:`consume_batches`: take a batch without acknowledging it
(``noack_take``), hand the raw messages to a processor, and acknowledge them only after it
returned (its effects durable). Faust commits acknowledged offsets only, so a crash anywhere
before that redelivers the batch: at-least-once.

Scaling out is Kafka's: every worker joins the app's consumer group (``HUBSYNC_CONSUMER_GROUP`` +
``.ingest``) and gets a share of the partitions; the ingest lanes have groups of their own
(:class:`~hubsync.streams.topics.ConsumerGroups`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import faust
from mode import ServiceT
from prometheus_client import CollectorRegistry

from hubsync._runtime.collector import tune_collector
from hubsync._runtime.shutdown import EXIT_AGENT_FAILED, arm_shutdown_deadline, stop_process
from hubsync.avro.codec import AvroCodec
from hubsync.health import Check
from hubsync.settings import Settings
from hubsync.streams.connection import kafka_connection
from hubsync.streams.decode import KafkaRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

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


@dataclass
class SharedResources:
    """What the agents share (processors with their pools and producers): each opened once, on
    first use inside the worker's event loop, and all closed together when the app shuts down."""

    _opened: dict[str, Any] = field(default_factory=dict)
    _stack: contextlib.AsyncExitStack | None = None
    _lock: asyncio.Lock | None = None

    async def get(self, name: str, opener: Callable[[], contextlib.AbstractAsyncContextManager[T]]) -> T:
        """The resource ``name``, entering ``opener()`` the first time it is asked for."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if name not in self._opened:
                if self._stack is None:
                    self._stack = contextlib.AsyncExitStack()
                self._opened[name] = await self._stack.enter_async_context(opener())
            resource: T = self._opened[name]
            return resource

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._opened.clear()


class AgentApp(faust.App):
    """The Faust app: the settings, codec and registry the agents are built with, and the
    resources they share, closed after the agents stopped."""

    settings: Settings
    codec: AvroCodec
    registry: CollectorRegistry
    resources: SharedResources
    #: the readiness of the consumers the app runs beside Faust's own (the ingest lanes')
    consumer_checks: list[Check]

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """As Faust's, without its Monitor sensor: it runs on every event (a dict update per event
        and stream), a measurable share of the agent's time; hubsync records its metrics per batch.
        An app without agents (a worker that does not push) starts no Faust consumer: it would
        subscribe to no topic, which aiokafka refuses."""
        if not self.agents:
            self.boot_strategy.enable_kafka_consumer = False
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


def create_app(settings: Settings, codec: AvroCodec, registry: CollectorRegistry) -> AgentApp:
    """An app with no agents yet, in the consumer group ``<HUBSYNC_CONSUMER_GROUP>.ingest``."""
    app_id = f"{settings.consumer_group}.ingest"
    kafka = kafka_connection(settings)
    app = AgentApp(
        app_id,
        broker=kafka.faust_brokers(),
        broker_credentials=kafka.faust_credentials(),
        autodiscover=False,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_interval=1.0,
        # a killed worker's partitions move to the others after 10 s by default, not Faust's 60 s
        broker_session_timeout=settings.consumer_session_timeout_s,
        broker_heartbeat_interval=settings.consumer_heartbeat_interval_s,
        stream_wait_empty=False,
        producer_acks=-1,
        # Faust keeps table state there; hubsync has no tables (memory store), so a temporary
        # directory rather than one per consumer group in the working directory
        datadir=str(_datadir(app_id)),
    )
    app.settings, app.codec, app.registry = settings, codec, registry
    app.resources = SharedResources()
    app.consumer_checks = []
    return app


async def consume_batches(
    stream: Any,
    size: int,
    within_s: float,
    process: Callable[[Sequence[KafkaRecord]], Awaitable[object]],
) -> None:
    """An agent's loop: batches of up to ``size`` events (or what came within ``within_s``),
    each acknowledged only once ``process`` returned."""
    async for batch in stream.noack_take(size, within=within_s):
        events: Sequence[Any] = batch
        try:
            await process([FaustRecord(e.message) for e in events])
        except Exception:
            # Faust would restart the agent past this batch, which stays unacknowledged: its
            # partitions' commits would stall and the batch would wait for the next restart.
            # Stopping the process now (offsets uncommitted) has the batch redelivered at once.
            log.critical("a batch failed with an error no retry can fix; the worker stops", exc_info=True)
            stop_process(EXIT_AGENT_FAILED)
        for event in events:
            await stream.ack(event)


def run_app(build: Callable[[], AgentApp]) -> None:
    """Run the app ``build`` makes until SIGINT/SIGTERM (Faust's worker handles the signals and
    the exit code). The event loop policy is set first, so the app is built on it."""
    try:
        import uvloop  # measured: Faust's per-event overhead is about 1.7x lower on uvloop
    except ImportError:  # pragma: no cover - optional on platforms without uvloop wheels
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build()
    tune_collector()  # what the app loaded is long-lived; batches allocate much short-lived garbage
    # hubsync's logging (configure_logging) stays; stdout/stderr are not redirected into a logger
    # without handlers, which swallowed every warning and error of the worker
    worker = _Worker(
        app,
        loglevel=app.settings.log_level.lower(),
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


class _Worker(faust.Worker):
    """Faust's worker, whose stop on SIGTERM/SIGINT is bounded by ``HUBSYNC_SHUTDOWN_GRACE_S``."""

    def _arm(self) -> None:
        app: Any = self.app
        arm_shutdown_deadline(app.settings.shutdown_grace_s, f"the worker ({app.conf.id})")

    def _on_sigterm(self) -> None:
        self._arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm()
        super()._on_sigint()


def assignment_check(app: AgentApp) -> Check:
    """The worker's consumers are started and not rebalancing: Faust's (when the app has agents)
    and each of ``app.consumer_checks``. Each holds its assignment; a worker of a group with more
    members than partitions may hold none and is still ready."""

    def faust_consumer() -> str:
        consumer = app._consumer  # not app.consumer: that property would create one
        if consumer is None or not app.started:
            raise RuntimeError("the consumer has not started")
        if app.rebalancing:
            raise RuntimeError("the consumer group is rebalancing")
        return f"{len(consumer.assignment())} partition(s) assigned"

    def check() -> str:
        checks = [*([faust_consumer] if app.agents else []), *app.consumer_checks]
        return "; ".join(each() or "ok" for each in checks)

    return check


def consumer_not_started() -> str:
    """The consumer check until the app exists: not ready."""
    raise RuntimeError("the consumer has not started")
