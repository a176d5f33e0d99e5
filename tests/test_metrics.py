"""Metrics definitions and the exposition server (loopback by default)."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from hubsync.metrics import ConnectorMetrics, HubSpotClientMetrics, serve_metrics
from hubsync.settings import Settings


def test_metrics_are_exposed_on_loopback() -> None:
    registry = CollectorRegistry()
    client = HubSpotClientMetrics.create(registry)
    connector = ConnectorMetrics.create(registry)
    client.requests.labels("/crm/v3/objects/contacts/batch/read", "POST", "200").inc(2)
    connector.events_published.labels("hubspot.contacts.changes", "webhook").inc(100)
    settings = Settings(metrics_port=0)
    assert settings.metrics_host == "127.0.0.1"
    port = serve_metrics(settings, registry)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert (
        'hubsync_hubspot_requests_total{endpoint="/crm/v3/objects/contacts/batch/read",method="POST",status="200"} 2.0'
        in text
    )
    assert 'hubsync_events_published_total{source="webhook",topic="hubspot.contacts.changes"} 100.0' in text
