"""Ingest metrics, recorded once per batch.

The event-to-commit latency is a histogram over every event, but filled per batch:
:class:`BatchHistogram` bins a batch's latencies in plain Python and takes its lock once,
instead of one ``Histogram.observe`` (and lock) per event.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from hubsync.metrics import PerRegistry

#: event (received by hubsync) -> committed in PostgreSQL
COMMIT_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class BatchHistogram(Collector):
    """A label-less Prometheus histogram fed with whole batches of observations."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(buckets)
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        bins = [0] * (len(self.bounds) + 1)
        total = 0.0
        bounds = self.bounds
        for value in values:
            bins[bisect_left(bounds, value)] += 1
            total += value
        with self._lock:
            for i, n in enumerate(bins):
                self._counts[i] += n
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], cumulative, total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation)


@dataclass(frozen=True)
class IngestMetrics:
    events: Counter
    duplicates_flagged: Counter
    mapped_values: Counter
    commit_latency: BatchHistogram
    batch_seconds: Histogram
    batch_size: Histogram
    consumer_lag: Gauge
    last_commit: Gauge
    retries: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> IngestMetrics:
        return cls(
            events=Counter(
                "hubsync_ingest_events",
                "Change events consumed by the ingest agents, by topic and outcome (applied: changed the"
                " platform; unchanged: already applied or older than the stored version; dlq)",
                ["topic", "outcome"],
                registry=registry,
            ),
            duplicates_flagged=Counter(
                "hubsync_duplicates_flagged",
                "Potential-duplicate pairs flagged, by object type",
                ["object_type"],
                registry=registry,
            ),
            mapped_values=Counter(
                "hubsync_mapped_values",
                "Field-mapping outcomes during pulls, by object type and rule"
                " (autofill, overwrite, rejected)",
                ["object_type", "rule"],
                registry=registry,
            ),
            commit_latency=BatchHistogram(
                "hubsync_ingest_commit_latency_seconds",
                "From hubsync receiving a change to the change committed in PostgreSQL",
                COMMIT_LATENCY_BUCKETS,
                registry,
            ),
            batch_seconds=Histogram(
                "hubsync_ingest_batch_seconds",
                "Time to apply and commit one batch",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
                registry=registry,
            ),
            batch_size=Histogram(
                "hubsync_ingest_batch_events",
                "Events per ingest batch",
                buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
                registry=registry,
            ),
            consumer_lag=Gauge(
                "hubsync_consumer_lag_messages",
                "Messages after the offset the worker group committed, to the partition's measured end"
                " (right on the embedded dev broker too, whose reported end offsets are not)",
                ["topic", "partition"],
                registry=registry,
            ),
            last_commit=Gauge(
                "hubsync_ingest_last_commit_timestamp_seconds",
                "When the ingest last committed a batch in PostgreSQL",
                registry=registry,
            ),
            retries=Counter(
                "hubsync_ingest_retries",
                "Batches retried after a retriable failure (database or Kafka unavailable, deadlock)",
                ["reason"],
                registry=registry,
            ),
        )


#: the ingest metrics of a registry, created once
ingest_metrics = PerRegistry(IngestMetrics.create)
