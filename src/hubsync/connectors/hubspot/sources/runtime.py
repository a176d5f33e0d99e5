"""Everything the poller and manual pulls need, built from settings and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hubsync.avro.codec import codec_from_settings
from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.oauth.runtime import portal_client_config
from hubsync.connectors.hubspot.sources.cursors import CursorStore
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.record_events import mapped_properties
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.metrics import ConnectorMetrics, HubSpotClientMetrics
from hubsync.settings import MissingSettingError, Settings, hubspot_access_configured, require_database_url
from hubsync.storage.pool import PoolConfig, open_async_pool
from hubsync.streams.admin import ensure_change_topics
from hubsync.streams.connection import kafka_connection
from hubsync.streams.producer import AsyncKafkaPublisher


@dataclass
class ConnectorRuntime:
    client: HubSpotClient
    cursors: CursorStore
    publisher: ChangeEventPublisher
    #: the properties to read per object type: the mapped ones plus what hubsync itself needs
    properties: dict[HubSpotObjectType, list[str]]
    #: the portal worked on, which its events name (None: a private app's)
    portal_id: int | None = None


@contextlib.asynccontextmanager
async def connector_runtime(
    settings: Settings,
    *,
    source: str,
    connector_metrics: ConnectorMetrics | None = None,
    client_metrics: HubSpotClientMetrics | None = None,
    create_topics: bool = True,
) -> AsyncIterator[ConnectorRuntime]:
    """What the poller and the pulls work with; ``create_topics=False`` where the caller has made
    sure of the topics already (the commands' start-up check)."""
    if not hubspot_access_configured(settings):
        raise MissingSettingError("HUBSPOT_ACCESS_TOKEN", "the private app's access token")
    bootstrap = kafka_connection(settings)
    pool = await open_async_pool(
        require_database_url(settings), PoolConfig(max_size=4), name="hubsync-connectors"
    )
    publisher = AsyncKafkaPublisher(bootstrap, codec_from_settings(settings))
    portal_id, config = await portal_client_config(settings)
    client = HubSpotClient(config, metrics=client_metrics)
    try:
        if create_topics:
            await asyncio.to_thread(ensure_change_topics, settings)
        await publisher.start()
        yield ConnectorRuntime(
            client=client,
            cursors=CursorStore(pool),
            publisher=ChangeEventPublisher(
                publisher, settings.topics, source=source, metrics=connector_metrics
            ),
            properties=await mapped_properties(pool),
            portal_id=portal_id,
        )
    finally:
        await client.aclose()
        await publisher.close()
        await pool.close()
