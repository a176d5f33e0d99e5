"""A :class:`~hubsync.push.agent.PushProcessor` with its connections, for the worker's push agents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.connectors.hubspot.http.errors import BLOCKED_ERRORS
from hubsync.connectors.hubspot.oauth.clients import PortalClients
from hubsync.metrics import hubspot_client_metrics
from hubsync.push.agent import PushProcessor
from hubsync.push.errors import ErrorTopicPublisher
from hubsync.push.failures import ErrorLog
from hubsync.push.metrics import push_metrics
from hubsync.push.setup import ensure_record_id_property
from hubsync.settings import Settings, require_database_url
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.streams.connection import kafka_connection
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.producer import AsyncKafkaPublisher

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def push_processor(
    settings: Settings, codec: AvroCodec, *, registry: CollectorRegistry = REGISTRY
) -> AsyncIterator[PushProcessor]:
    """Opens the pool, the producer and the HubSpot clients (one per portal), makes sure
    ``hubsync_record_id`` exists in a portal before its first push (the private app's portal at
    start), and closes everything on exit."""
    pool = await asyncio.to_thread(
        open_pool, require_database_url(settings), PoolConfig(min_size=1, max_size=2), name="push"
    )
    clients = PortalClients(settings, metrics=hubspot_client_metrics(registry))
    try:
        async with AsyncKafkaPublisher(kafka_connection(settings), codec) as publisher:
            processor = PushProcessor(
                pool,
                clients,
                codec,
                DeadLetterPublisher.from_settings(settings, publisher, codec, registry=registry),
                ErrorLog(ErrorTopicPublisher.from_settings(settings, publisher, codec, registry=registry)),
                metrics=push_metrics(registry),
                prepare=ensure_record_id_property,
                blocked_wait_s=settings.hubspot_blocked_wait_s,
            )
            if not clients.many:  # the private app's portal: checked at start, a bad token fails here
                try:
                    await processor.prepare_portal(None)
                except BLOCKED_ERRORS as exc:  # checked again before the first push
                    log.error("push: %s; the hubsync_record_id check waits for the first push", exc)
            yield processor
    finally:
        await clients.aclose()
        await asyncio.to_thread(pool.close)
