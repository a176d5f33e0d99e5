"""What an answer from HubSpot means for the caller: one pure function, :func:`classify`.

The retry loop of :class:`~hubsync.connectors.hubspot.http.client.HubSpotClient` and the batch
helpers act on its verdict only, so the whole policy is readable (and tested) in one place:

=================  ===========  =============================================================
status             outcome      why
=================  ===========  =============================================================
200, 201, 204      success
207                partial      a batch with per-input ``errors``; the batch layer maps them
400                skippable    validation (invalid value, option, email, 10,000 search cap)
401, 403           fatal        bad/expired token, missing scopes: a person must fix it
404, 409, 413,     skippable    this record / request cannot succeed as sent (not found,
414, other 4xx                  duplicate email, too large, too many merges)
429 SECONDLY       retriable    search's per-second limit: wait for the second to pass
429 TEN_SECONDLY   retriable    the burst window is full: wait for the window
429 DAILY          fatal        nothing will pass before the daily reset
477                retriable    migration in progress, with ``Retry-After``
5xx                retriable
connection error   retriable    ``status`` :data:`CONNECTION_ERROR` (0)
=================  ===========  =============================================================

A ``Retry-After`` header always wins over the derived waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hubsync.hubspot_model.limits import RateLimitPolicy

#: the ``status`` to classify a request that got no HTTP answer (refused, reset, timed out)
CONNECTION_ERROR = 0

#: how long a ten-secondly 429 waits when the response carries no interval header
DEFAULT_BURST_WINDOW_S = 10.0


H_INTERVAL_MS = "X-HubSpot-RateLimit-Interval-Milliseconds"


class Outcome(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"
    RETRIABLE = "retriable"
    FATAL = "fatal"
    SKIPPABLE = "skippable"


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one answer. ``reason`` is short and stable (it labels metrics);
    ``retry_after`` is the minimum wait in seconds before a retry, when known."""

    outcome: Outcome
    reason: str
    retry_after: float | None = None
    policy: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SUCCESS, Outcome.PARTIAL)


def classify(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Classification:
    """Classify HubSpot's answer ``status``/``body``/``headers`` (``status`` 0: no answer)."""
    retry_after = parse_retry_after(headers)
    if status == CONNECTION_ERROR:
        return Classification(Outcome.RETRIABLE, "connection", retry_after)
    if status == 207:
        return Classification(Outcome.PARTIAL, "multi_status")
    if 200 <= status < 300:
        return Classification(Outcome.SUCCESS, "ok")
    if status == 429:
        return _rate_limited(body, headers, retry_after)
    if status == 477:
        return Classification(Outcome.RETRIABLE, "migration_in_progress", retry_after)
    if status >= 500:
        return Classification(Outcome.RETRIABLE, "server_error", retry_after)
    if status == 401:
        return Classification(Outcome.FATAL, "unauthorized")
    if status == 403:
        return Classification(Outcome.FATAL, "forbidden")
    reason = {400: "bad_request", 404: "not_found", 409: "conflict", 413: "too_large", 414: "too_long"}
    return Classification(Outcome.SKIPPABLE, reason.get(status, "client_error"))


def _rate_limited(
    body: Mapping[str, Any] | None, headers: Mapping[str, str], retry_after: float | None
) -> Classification:
    policy = str(body.get("policyName")) if body and body.get("policyName") else None
    if policy == RateLimitPolicy.DAILY:
        return Classification(Outcome.FATAL, "daily_limit", retry_after, policy)
    if retry_after is None:
        if policy == RateLimitPolicy.SECONDLY:
            # the search limit is a rolling second: after a full second every slot is free again
            retry_after = 1.0
        elif policy == RateLimitPolicy.TEN_SECONDLY_ROLLING:
            retry_after = _interval_s(headers) or DEFAULT_BURST_WINDOW_S
    return Classification(Outcome.RETRIABLE, "rate_limited", retry_after, policy)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` case-insensitively (httpx headers already are; plain dicts are not)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (delta-seconds form; an HTTP date is ignored)."""
    raw = header(headers, "Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _interval_s(headers: Mapping[str, str]) -> float | None:
    raw = header(headers, H_INTERVAL_MS)
    try:
        return int(raw) / 1000.0 if raw is not None and int(raw) > 0 else None
    except ValueError:
        return None


def required_scopes(body: Mapping[str, Any] | None) -> list[str]:
    """The scopes a 403 says are missing: ``context.requiredScopes`` and the ``context`` of each
    entry of ``errors`` (HubSpot puts them in either place)."""
    if not body:
        return []
    found: list[str] = []
    contexts: list[Any] = [body.get("context")]
    errors = body.get("errors")
    if isinstance(errors, list):
        contexts.extend(e.get("context") for e in errors if isinstance(e, Mapping))
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for key in ("requiredScopes", "requiredGranularScopes"):
            values = context.get(key)
            if isinstance(values, list):
                found.extend(str(v) for v in values if str(v) not in found)
    return found
