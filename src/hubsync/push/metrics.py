"""Push agent metrics, recorded per batch (push errors by category: :mod:`hubsync.push.errors`;
outbox lag: :mod:`hubsync.push.relay`)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from hubsync.metrics import PerRegistry


@dataclass(frozen=True)
class PushMetrics:
    records: Counter
    batch_records: Histogram
    retries: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> PushMetrics:
        return cls(
            records=Counter(
                "hubsync_push_records",
                "Platform records handled by the push agent, by object type and outcome (created, updated,"
                " failed, skipped)",
                ["object_type", "outcome"],
                registry=registry,
            ),
            batch_records=Histogram(
                "hubsync_push_batch_records",
                "Records written to HubSpot per push batch (after coalescing)",
                buckets=(1, 10, 50, 100, 200, 500, 1000, 2000),
                registry=registry,
            ),
            retries=Counter(
                "hubsync_push_retries",
                "Push batches retried after a retriable failure (429/5xx after the client's retries,"
                " database or Kafka unavailable)",
                ["reason"],
                registry=registry,
            ),
        )


#: the push metrics of a registry, created once
push_metrics = PerRegistry(PushMetrics.create)
