"""The status-code table of :func:`classify`, the backoff policy and the 403 scope parsing."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hubsync.connectors.hubspot.http.classify import (
    CONNECTION_ERROR,
    Outcome,
    classify,
    parse_retry_after,
    required_scopes,
)
from hubsync.connectors.hubspot.http.config import RetryPolicy


def _429(policy: str) -> dict[str, Any]:
    return {"status": "error", "errorType": "RATE_LIMIT", "policyName": policy, "message": "limit"}


BURST_HEADERS = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "190"}


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "reason", "retry_after"),
    [
        (200, None, {}, Outcome.SUCCESS, "ok", None),
        (201, None, {}, Outcome.SUCCESS, "ok", None),
        (204, None, {}, Outcome.SUCCESS, "ok", None),
        (207, {"errors": [{}]}, {}, Outcome.PARTIAL, "multi_status", None),
        (400, {"category": "VALIDATION_ERROR"}, {}, Outcome.SKIPPABLE, "bad_request", None),
        (401, {"category": "INVALID_AUTHENTICATION"}, {}, Outcome.FATAL, "unauthorized", None),
        (403, {"category": "MISSING_SCOPES"}, {}, Outcome.FATAL, "forbidden", None),
        (404, {"category": "OBJECT_NOT_FOUND"}, {}, Outcome.SKIPPABLE, "not_found", None),
        (409, {"category": "CONFLICT"}, {}, Outcome.SKIPPABLE, "conflict", None),
        (413, None, {}, Outcome.SKIPPABLE, "too_large", None),
        (414, None, {}, Outcome.SKIPPABLE, "too_long", None),
        (429, _429("TEN_SECONDLY_ROLLING"), BURST_HEADERS, Outcome.RETRIABLE, "rate_limited", 10.0),
        (429, _429("TEN_SECONDLY_ROLLING"), {}, Outcome.RETRIABLE, "rate_limited", 10.0),
        (
            429,
            _429("TEN_SECONDLY_ROLLING"),
            {"x-hubspot-ratelimit-interval-milliseconds": "1000"},
            Outcome.RETRIABLE,
            "rate_limited",
            1.0,
        ),
        (429, _429("SECONDLY"), {}, Outcome.RETRIABLE, "rate_limited", 1.0),
        (429, _429("SECONDLY"), {"Retry-After": "3"}, Outcome.RETRIABLE, "rate_limited", 3.0),
        (429, _429("DAILY"), {}, Outcome.FATAL, "daily_limit", None),
        (429, None, {}, Outcome.RETRIABLE, "rate_limited", None),
        (477, None, {"Retry-After": "7"}, Outcome.RETRIABLE, "migration_in_progress", 7.0),
        (500, None, {}, Outcome.RETRIABLE, "server_error", None),
        (502, None, {}, Outcome.RETRIABLE, "server_error", None),
        (503, None, {"Retry-After": "2"}, Outcome.RETRIABLE, "server_error", 2.0),
        (504, None, {}, Outcome.RETRIABLE, "server_error", None),
        (CONNECTION_ERROR, None, {}, Outcome.RETRIABLE, "connection", None),
        (405, None, {}, Outcome.SKIPPABLE, "client_error", None),
    ],
)
def test_classification_table(
    status: int,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    outcome: Outcome,
    reason: str,
    retry_after: float | None,
) -> None:
    verdict = classify(status, body, headers)
    assert (verdict.outcome, verdict.reason, verdict.retry_after) == (outcome, reason, retry_after)
    assert verdict.ok is (outcome in (Outcome.SUCCESS, Outcome.PARTIAL))


def test_429_carries_its_policy() -> None:
    assert classify(429, _429("SECONDLY"), {}).policy == "SECONDLY"
    assert classify(429, _429("DAILY"), {}).policy == "DAILY"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, None), ({"Retry-After": "5"}, 5.0), ({"retry-after": "0.5"}, 0.5), ({"Retry-After": "soon"}, None),
     ({"Retry-After": "-1"}, None), ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None)],
)  # fmt: skip
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_required_scopes_from_context_and_errors() -> None:
    body = {
        "category": "MISSING_SCOPES",
        "context": {"requiredScopes": ["crm.objects.contacts.write"]},
        "errors": [
            {"message": "x", "context": {"requiredGranularScopes": ["crm.objects.companies.read"]}},
            {"message": "y", "context": {"requiredScopes": ["crm.objects.contacts.write"]}},
        ],
    }
    assert required_scopes(body) == ["crm.objects.contacts.write", "crm.objects.companies.read"]
    assert required_scopes({"category": "MISSING_SCOPES"}) == []
    assert required_scopes(None) == []


def test_backoff_is_bounded_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_backoff_s=0.5, max_backoff_s=4.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed step
        assert min(delays) < cap * 0.2


def test_server_wait_is_a_floor() -> None:
    policy = RetryPolicy(base_backoff_s=0.5, max_backoff_s=4.0)
    rng = random.Random(1)
    delays = [policy.delay(1, 3.0, rng) for _ in range(100)]
    assert all(3.0 <= d <= 3.5 for d in delays)
    assert RetryPolicy(jitter=False).delay(3, None, rng) == 2.0


def test_retry_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
