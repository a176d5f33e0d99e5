"""The ingest agents: one per ``hubspot.*.changes`` and ``hubspot.*.backfill`` topic, each a thin loop over
:class:`~hubsync.ingest.processor.IngestProcessor` (batches of ``HUBSYNC_INGEST_BATCH_MAX``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from confluent_kafka import KafkaException
from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.ingest.lanes import LaneGate
from hubsync.ingest.metrics import ingest_metrics
from hubsync.ingest.processor import IngestProcessor, IngestTopics
from hubsync.records.kinds import ObjectKind
from hubsync.settings import Settings, require_database_url
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.storage.portal_scope import PortalRouting
from hubsync.streams.connection import kafka_connection
from hubsync.streams.decode import KafkaRecord
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.faust_app import AgentApp, consume_batches
from hubsync.streams.lag import partition_lags
from hubsync.streams.producer import AsyncKafkaPublisher

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
        open_pool, require_database_url(settings), PoolConfig(min_size=1, max_size=4), name="ingest"
    )
    try:
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
            )
            try:
                yield processor
            finally:
                await asyncio.to_thread(processor.statistics.wait, 60.0)
    finally:
        await asyncio.to_thread(pool.close)


async def shared_ingest_processor(app: AgentApp) -> IngestProcessor:
    """The app's one ingest processor (opened on first use), with its PostgreSQL pool, which other
    parts of the worker (the property definitions' refresh) use too."""
    return await app.resources.get(
        "ingest", lambda: ingest_processor(app.settings, app.codec, registry=app.registry)
    )


def add_ingest_agents(app: AgentApp) -> None:
    """One ingest agent per ``hubspot.*.changes`` topic; they share one processor."""
    settings, registry = app.settings, app.registry
    metrics = ingest_metrics(registry)
    within = settings.ingest_batch_wait_ms / 1000

    kafka = kafka_connection(settings)
    reported: set[tuple[str, str]] = set()

    def measure_lag() -> None:
        """The lag of the partitions this worker holds: each partition is measured by its owner only,
        so the broker sees one probe per partition, not one per partition and worker."""
        consumer = app._consumer  # not app.consumer: that property would create one
        assigned = {(tp.topic, int(tp.partition)) for tp in consumer.assignment()} if consumer else set()
        measured = set()
        if assigned:
            topics = list(ingest_topics(settings).sources)
            for part in partition_lags(kafka, app.conf.id, topics, only=assigned):
                labels = (part.topic, str(part.partition))
                metrics.consumer_lag.labels(*labels).set(part.lag)
                measured.add(labels)
        for labels in reported - measured:  # moved to another worker in a rebalance
            metrics.consumer_lag.remove(*labels)
        reported.clear()
        reported.update(measured)

    async def record_lag() -> None:
        """The group's lag per partition, measured (see :mod:`hubsync.streams.lag`)."""
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

    kinds: dict[str, ObjectKind] = dict(ingest_topics(settings).sources)
    # the backfill lane's topics have agents of their own: a big backfill's batches are applied
    # beside the webhook-driven ones, never ahead of them, and give way to them (LaneGate)
    backfill = {settings.topics.hubspot_contacts_backfill, settings.topics.hubspot_companies_backfill}
    gate = LaneGate()
    for topic_name, kind in kinds.items():
        topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
        is_backfill = topic_name in backfill

        async def agent(stream: Any, is_backfill: bool = is_backfill) -> None:
            processor = await shared_ingest_processor(app)

            async def process(messages: Sequence[KafkaRecord]) -> object:
                async with gate.backfill() if is_backfill else gate.realtime():
                    return await processor.process(messages)

            size = settings.ingest_backfill_batch_max if is_backfill else settings.ingest_batch_max
            await consume_batches(stream, size, within, process)

        app.agent(topic, name=f"ingest-{kind}{'-backfill' if is_backfill else ''}")(agent)
