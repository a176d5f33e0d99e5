"""Webhook delivery bookkeeping: statistics, the delivery log's records and the retry schedule."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

#: 2 ** 62 times any sane base is far beyond every cap; larger exponents would overflow a float
_MAX_EXPONENT = 62


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """A snapshot of a dispatcher's counters (events unless the name says batches/requests)."""

    #: handed to ``emit``
    emitted_events: int
    #: waiting to be put into a batch
    queued_events: int
    in_flight_requests: int
    #: batches waiting for their next attempt
    retrying_batches: int
    delivered_events: int
    delivered_batches: int
    #: attempts that failed (connection error, timeout, non-2xx), retried or not
    failed_attempts: int
    #: given up after ``webhook_max_attempts`` attempts
    dropped_batches: int
    dropped_events: int
    #: refused by ``emit``: queue full, or the dispatcher was stopping/stopped
    rejected_events: int
    #: still undelivered when ``stop`` cancelled the remaining work
    abandoned_events: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST of a batch (an entry of the bounded delivery log)."""

    batch_id: int
    #: 0 for the first delivery, as ``attemptNumber`` in the events
    attempt: int
    event_ids: tuple[int, ...]
    #: the ``X-HubSpot-Request-Timestamp`` sent
    started_at_ms: int
    duration_s: float
    #: HTTP status, None when no answer came (connection error, timeout)
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["event_ids"] = list(self.event_ids)
        body["ok"] = self.ok
        return body


def backoff_delay(retry: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the second attempt).

    Exponential (``base_s * 2 ** (retry - 1)``), capped at ``max_s``, with "equal jitter": half
    of the delay is fixed and half random, so that batches failing together spread out yet a
    retry never fires immediately.
    """
    if retry < 1:
        raise ValueError("retry numbers start at 1")
    ceiling = min(max_s, base_s * 2.0 ** min(retry - 1, _MAX_EXPONENT))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header (delay in seconds or an HTTP date) as seconds, None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
