"""Kafka or PostgreSQL failing: the receiver answers 503 (HubSpot retries), never 2xx or 500."""

from __future__ import annotations

import dataclasses
import time
import uuid

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg import sql
from pydantic import SecretStr

from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
from hubsync.connectors.hubspot.webhooks.service import ThreadedWebhookReceiver
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from tests.connectors.hubspot.webhooks.test_webhook_harness import SECRET, Harness, event, running_receiver
from tests.fixtures.services import fresh_database

pytestmark = pytest.mark.integration

#: how long a request waits for Kafka unless configured otherwise
DEFAULT_PUBLISH_TIMEOUT_S = next(
    f.default for f in dataclasses.fields(WebhookReceiverConfig) if f.name == "publish_timeout_s"
)


def test_kafka_down_is_503(database_url: str) -> None:
    with fresh_database(database_url) as url:
        migrate(url)
        settings = Settings(
            kafka_bootstrap_servers="127.0.0.1:1",  # nothing listens there
            database_url=SecretStr(url),
            hubspot_webhook_secret=SecretStr(SECRET),
            topics=TopicNames(hubspot_contacts=f"t.{uuid.uuid4().hex}"),
        )
        registry = CollectorRegistry()
        config = WebhookReceiverConfig.from_settings(settings, publish_timeout_s=1.0)
        receiver = ThreadedWebhookReceiver(
            settings, config, ConnectorMetrics.create(registry), create_topics=False
        )
        with receiver:
            harness = Harness(settings, receiver, registry, url)
            started = time.monotonic()
            response = harness.post([event()])
            elapsed = time.monotonic() - started
            harness.close()
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        assert elapsed < DEFAULT_PUBLISH_TIMEOUT_S  # the configured 1 s applied, not the default
        assert registry.get_sample_value("hubsync_webhook_requests_total", {"outcome": "unavailable"}) == 1
        # nothing was recorded as seen: HubSpot's retry will publish the events
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM hubsync.webhook_dedupe").fetchone() == (0,)


def test_postgres_down_is_503(kafka_bootstrap_servers: str, database_url: str) -> None:
    with running_receiver(kafka_bootstrap_servers, database_url) as hub:
        assert hub.post([event()]).status_code == 200
        name = psycopg.conninfo.conninfo_to_dict(hub.database_url)["dbname"]
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(str(name))))
        response = hub.post([event()])
        assert response.status_code == 503
        assert hub.metric("hubsync_webhook_requests_total", outcome="unavailable") == 1
