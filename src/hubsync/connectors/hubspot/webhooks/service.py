"""The webhook receiver with everything it needs, built from :class:`~hubsync.settings.Settings`:
the change topics (created when missing), the Kafka publisher, the PostgreSQL pool for the dedupe
table and the HTTP server.

:func:`webhook_service` runs it in the current event loop (``hubsync webhook``);
:class:`ThreadedWebhookReceiver` runs it on a background thread for synchronous callers (tests,
benchmarks, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from hubsync._runtime.background import BackgroundService
from hubsync.avro.codec import codec_from_settings
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.clients import PortalClients
from hubsync.connectors.hubspot.oauth.install import add_install_routes
from hubsync.connectors.hubspot.oauth.runtime import portal_gate, portal_store
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.record_events import PortalProperties
from hubsync.connectors.hubspot.webhooks.event_keys import WebhookDedupe
from hubsync.connectors.hubspot.webhooks.receiver import (
    RunningReceiver,
    WebhookReceiverConfig,
    create_webhook_app,
    start_webhook_receiver,
)
from hubsync.connectors.hubspot.webhooks.record_fetcher import WebhookRecordFetcher
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import Settings, hubspot_access_configured, require_database_url
from hubsync.storage.defaults import load_defaults
from hubsync.storage.pool import PoolConfig, open_async_pool
from hubsync.streams.admin import ensure_change_topics
from hubsync.streams.connection import kafka_connection
from hubsync.streams.producer import AsyncKafkaPublisher

log = logging.getLogger(__name__)

#: a webhook request should not queue long for a connection: HubSpot times out after a few seconds
POOL_CONFIG = PoolConfig(min_size=1, max_size=10, timeout=3.0, application_name="hubsync-webhook")


@contextlib.asynccontextmanager
async def webhook_service(
    settings: Settings,
    config: WebhookReceiverConfig,
    metrics: ConnectorMetrics,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    create_topics: bool = True,
) -> AsyncIterator[RunningReceiver]:
    """Serve the receiver until the block exits; then stop taking requests, deliver what is
    queued for Kafka and close the pool."""
    bootstrap = kafka_connection(settings)
    database_url = require_database_url(settings)
    if create_topics:
        await asyncio.to_thread(ensure_change_topics, settings)
    codec = codec_from_settings(settings)
    pool = await open_async_pool(database_url, POOL_CONFIG, name="hubsync-webhook")
    publisher = AsyncKafkaPublisher(bootstrap, codec)
    clients: PortalClients | None = None
    try:
        await publisher.start()
        fetcher = None
        if config.fetch_records and hubspot_access_configured(settings):
            clients = PortalClients(settings)
            events = ChangeEventPublisher(publisher, settings.topics, source="webhook", metrics=metrics)
            fetcher = WebhookRecordFetcher(clients, events, PortalProperties(pool))
        app = create_webhook_app(
            config, publisher, WebhookDedupe(pool), metrics, fetcher=fetcher, portals=portal_gate(settings)
        )
        if settings.hubspot_client_id is not None:  # the public app: installs arrive here
            oauth = OAuthClient(OAuthAppConfig.from_settings(settings))
            store = portal_store(settings)
            _ = store.cipher  # HUBSYNC_TOKEN_KEYS checked now, not at the first install
            add_install_routes(app, oauth, store, load_defaults(settings.field_mappings_file))
        running = await start_webhook_receiver(app, host=host, port=port, path=config.path)
        try:
            yield running
        finally:
            await running.close()  # waits for requests in progress (and stops the fetcher)
    finally:
        if clients is not None:
            await clients.aclose()
        # every request has been answered by now, so what is still queued was answered 503 and
        # will be retried by HubSpot: no point waiting long for it
        await publisher.close(timeout_s=config.publish_timeout_s)
        await pool.close()


class ThreadedWebhookReceiver(BackgroundService[RunningReceiver]):
    """:func:`webhook_service` on a background thread with its own event loop; a context manager
    with :attr:`url`."""

    def __init__(
        self,
        settings: Settings,
        config: WebhookReceiverConfig,
        metrics: ConnectorMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        create_topics: bool = True,
    ) -> None:
        service = webhook_service(
            settings, config, metrics, host=host, port=port, create_topics=create_topics
        )
        super().__init__(service, name="hubsync-webhook", timeout=60.0)

    @property
    def url(self) -> str:
        return self.running.url
