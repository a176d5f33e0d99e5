"""The console's own metrics: page latency by route, and sign-ins by outcome (a spike of failures
is someone guessing passwords)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from hubsync.metrics import PerRegistry


@dataclass(frozen=True)
class ConsoleMetrics:
    requests: Histogram
    sign_ins: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> ConsoleMetrics:
        return cls(
            requests=Histogram(
                "hubsync_console_request_seconds",
                "Console requests by route (its pattern: never a record's data), method and status",
                ["route", "method", "status"],
                buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
                registry=registry,
            ),
            sign_ins=Counter(
                "hubsync_console_sign_ins",
                "Password sign-ins by outcome (ok, refused, throttled, expired_form)",
                ["outcome"],
                registry=registry,
            ),
        )


#: the console metrics of a registry, created once
console_metrics = PerRegistry(ConsoleMetrics.create)
