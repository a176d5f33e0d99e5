"""Incremental polling of every portal a deployment serves (``hubsync run``'s poller and ``hubsync
poller`` with the public app and no portal named).

Each :meth:`PortalPoller.round` polls the portals ``clients`` works for now (the public app's active
installs, read again every few seconds; a private app's one portal), up to ``concurrency`` at once,
each through its own client (its tokens, its rate-limit buckets) with its own cursors and mapped
properties. A portal that fails (revoked while polled, HubSpot down for it) is reported in its
:class:`PortalPoll` and polled again next round; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg_pool

from hubsync.avro.codec import codec_from_settings
from hubsync.connectors.hubspot.oauth.clients import ClientsByPortal
from hubsync.connectors.hubspot.sources.cursors import CursorStore
from hubsync.connectors.hubspot.sources.poller import IncrementalPoller, PollerConfig
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.record_events import PortalProperties
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import Settings, require_database_url
from hubsync.storage.pool import PoolConfig, open_async_pool
from hubsync.streams.connection import kafka_connection
from hubsync.streams.producer import AsyncKafkaPublisher

POLL_TYPES: tuple[HubSpotObjectType, ...] = ("contacts", "companies")
#: portals polled at once (each paced by its own rate limit)
POLL_CONCURRENCY = 16


@dataclass(slots=True)
class PortalPoll:
    """One portal's part of a round: events published per object type, or why it stopped."""

    portal: int | None
    published: dict[HubSpotObjectType, int] = field(default_factory=dict)
    error: Exception | None = None


class PortalPoller:
    """See the module docstring."""

    def __init__(
        self,
        clients: ClientsByPortal,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        events: ChangeEventPublisher,
        config: PollerConfig,
        *,
        metrics: ConnectorMetrics | None = None,
        types: Sequence[HubSpotObjectType] = POLL_TYPES,
        concurrency: int = POLL_CONCURRENCY,
    ) -> None:
        self.clients = clients
        self.pool = pool
        self.events = events
        self.config = config
        self.metrics = metrics
        self.types = tuple(types)
        self.properties = PortalProperties(pool)
        self._limit = asyncio.Semaphore(concurrency)

    async def poll(self, portal: int | None) -> PortalPoll:
        """Poll ``portal`` once, every object type; a failure is kept in the result."""
        outcome = PortalPoll(portal)
        async with self._limit:
            try:
                poller = IncrementalPoller(
                    self.clients.client(portal),
                    self.events,
                    CursorStore(self.pool, portal),
                    await self.properties.get(portal),
                    config=self.config,
                    metrics=self.metrics,
                    portal_id=portal,
                )
                for object_type in self.types:
                    outcome.published[object_type] = (await poller.poll_once(object_type)).published
            except Exception as exc:  # this portal's round ends; the others go on
                outcome.error = exc
        return outcome

    async def round(self) -> list[PortalPoll]:
        """Every portal once, in portal order."""
        portals = await self.clients.portals()
        return list(await asyncio.gather(*(self.poll(p) for p in portals)))


@contextlib.asynccontextmanager
async def portal_poller(
    settings: Settings,
    clients: ClientsByPortal,
    *,
    metrics: ConnectorMetrics | None = None,
    types: Sequence[HubSpotObjectType] = POLL_TYPES,
) -> AsyncIterator[PortalPoller]:
    """A :class:`PortalPoller` publishing ``source="poller"`` events, with its PostgreSQL pool and
    Kafka producer, both closed on exit: ``hubsync run``'s poller and ``hubsync poller`` alike."""
    pool = await open_async_pool(
        require_database_url(settings), PoolConfig(max_size=4), name="hubsync-poller"
    )
    try:
        async with AsyncKafkaPublisher(kafka_connection(settings), codec_from_settings(settings)) as kafka:
            events = ChangeEventPublisher(kafka, settings.topics, source="poller", metrics=metrics)
            config = PollerConfig(
                overlap_ms=settings.poll_overlap_ms, settle_ms=settings.poll_settle_ms, source="POLLER"
            )
            yield PortalPoller(clients, pool, events, config, metrics=metrics, types=types)
    finally:
        await pool.close()
