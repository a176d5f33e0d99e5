"""Prometheus metrics of hubsync, one set per process, and the exposition server.

Hot paths record per batch, not per event: a counter is incremented by the batch size, a
histogram observed once per request or batch. Every metric takes a ``registry`` so tests can
use a fresh one; processes use :data:`prometheus_client.REGISTRY`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from hubsync.health import HealthChecks, serve_health
from hubsync.settings import Settings

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


T = TypeVar("T")


class PerRegistry(Generic[T]):
    """A metric set made once per registry: calling it with a registry returns the same set every
    time (several components, or a component restarted in one process, share it; creating it
    twice would register every metric twice)."""

    def __init__(self, create: Callable[[CollectorRegistry], T]) -> None:
        self._create = create
        self._made: weakref.WeakKeyDictionary[CollectorRegistry, T] = weakref.WeakKeyDictionary()

    def __call__(self, registry: CollectorRegistry = REGISTRY) -> T:
        made = self._made.get(registry)
        if made is None:
            made = self._made[registry] = self._create(registry)
        return made


@dataclass(frozen=True)
class HubSpotClientMetrics:
    requests: Counter
    request_seconds: Histogram
    rate_limited: Counter
    retries: Counter
    headroom: Gauge
    limit: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> HubSpotClientMetrics:
        return cls(
            requests=Counter(
                "hubsync_hubspot_requests",
                "HubSpot API requests by endpoint (templated path), method and HTTP status",
                ["endpoint", "method", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                "hubsync_hubspot_request_seconds",
                "HubSpot API request duration",
                ["endpoint"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            rate_limited=Counter(
                "hubsync_hubspot_rate_limited",
                "HubSpot 429 answers by policy (TEN_SECONDLY_ROLLING, SECONDLY, DAILY)",
                ["policy"],
                registry=registry,
            ),
            retries=Counter(
                "hubsync_hubspot_retries",
                "HubSpot requests retried, by reason (429, 5xx, 477, connection)",
                ["reason"],
                registry=registry,
            ),
            headroom=Gauge(
                "hubsync_hubspot_ratelimit_remaining",
                "Requests left in HubSpot's rate-limit window, from the X-HubSpot-RateLimit-* headers",
                ["window"],
                registry=registry,
            ),
            limit=Gauge(
                "hubsync_hubspot_ratelimit_limit",
                "Requests HubSpot allows in the rate-limit window, from the X-HubSpot-RateLimit-* headers",
                ["window"],
                registry=registry,
            ),
        )


#: the HubSpot client metrics of a registry, created once
hubspot_client_metrics = PerRegistry(HubSpotClientMetrics.create)


@dataclass(frozen=True)
class ConnectorMetrics:
    events_published: Counter
    cursor_lag: Gauge
    last_poll: Gauge
    webhook_requests: Counter
    webhook_events: Counter
    webhook_ack_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> ConnectorMetrics:
        return cls(
            events_published=Counter(
                "hubsync_events_published",
                "Change events acknowledged by Kafka, by topic and source",
                ["topic", "source"],
                registry=registry,
            ),
            cursor_lag=Gauge(
                "hubsync_connector_cursor_lag_seconds",
                "How far a connector's durable cursor is behind now",
                ["connector", "object_type"],
                registry=registry,
            ),
            last_poll=Gauge(
                "hubsync_connector_last_poll_timestamp_seconds",
                "When a connector last completed a poll",
                ["connector", "object_type"],
                registry=registry,
            ),
            webhook_requests=Counter(
                "hubsync_webhook_requests",
                "Webhook requests by outcome (accepted, invalid_signature, stale, malformed, too_large, "
                "method_not_allowed, rate_limited, unavailable)",
                ["outcome"],
                registry=registry,
            ),
            webhook_events=Counter(
                "hubsync_webhook_events",
                "Webhook events by outcome (published, duplicate, unknown_type, invalid)",
                ["outcome"],
                registry=registry,
            ),
            webhook_ack_seconds=Histogram(
                "hubsync_webhook_ack_seconds",
                "Time from receiving a webhook request to answering it (after Kafka acknowledged)",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class DlqMetrics:
    messages: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> DlqMetrics:
        return cls(
            messages=Counter(
                "hubsync_dlq_messages",
                "Messages parked on the DLQ (acknowledged by Kafka), by source topic and failure stage",
                ["source_topic", "stage"],
                registry=registry,
            )
        )


#: the DLQ metrics of a registry, created once (several publishers may share a registry)
dlq_metrics = PerRegistry(DlqMetrics.create)


def serve_metrics(
    settings: Settings, registry: CollectorRegistry = REGISTRY, *, checks: HealthChecks | None = None
) -> int:
    """Expose ``/metrics``, ``/healthz`` and ``/readyz`` (``checks``: the component's readiness
    checks, :mod:`hubsync.health`) on ``settings.metrics_host:metrics_port`` (loopback by default);
    returns the bound port (``metrics_port=0`` picks a free one)."""
    return serve_health(settings.metrics_host, settings.metrics_port, checks, registry).port
