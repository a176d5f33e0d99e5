"""One HubSpot request, done right: paced by the portal's buckets, classified, retried, measured.

:class:`Requester` is the engine under :class:`~hubsync.connectors.hubspot.http.client.HubSpotClient`:
every call takes a slot of the portal's burst bucket (or the search bucket), then a slot of
the client's concurrency limit, both in the caller's :class:`Lane`; the answer's rate-limit
headers correct the bucket; :func:`classify` decides what happens next.

Non-idempotent requests (creates, merges) are not retried after an *ambiguous* transport
failure (a read timeout or a dropped connection after the request went out): HubSpot may have
applied it, and a blind retry could create a second record. The caller gets a
:class:`HubSpotRetriesExhaustedError` and reconciles (the push path upserts on ``hubsync_record_id``).
Failures before anything was sent (connect errors, pool timeouts) and 429/5xx/477 are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from pydantic import SecretStr

from hubsync.connectors.hubspot.http.auth import StaticToken, TokenSource
from hubsync.connectors.hubspot.http.classify import (
    CONNECTION_ERROR,
    Classification,
    Outcome,
    classify,
    header,
    required_scopes,
)
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.http.errors import (
    DailyLimitExhausted,
    HubSpotAuthError,
    HubSpotErrorDetails,
    HubSpotFatalError,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.connectors.hubspot.http.ratelimit import (
    Lane,
    PortalLimits,
    RollingWindowBucket,
    portal_limits,
)
from hubsync.hubspot_model.errors import CORRELATION_HEADER
from hubsync.hubspot_model.limits import RateLimitPolicy
from hubsync.metrics import HubSpotClientMetrics

log = logging.getLogger(__name__)

#: transport failures after which the request surely never reached HubSpot
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


#: renewals of an expired OAuth token for one request: a token HubSpot calls expired right after its
#: renewal (its clock ahead of ours, tokens expired early) is renewed again, then the request fails
MAX_TOKEN_RENEWALS = 3


class Bucket(StrEnum):
    """Which of the portal's limits a request counts against."""

    BURST = "burst"
    SEARCH = "search"
    #: exempt from both (the v4 association batch endpoints, per HubSpot's OpenAPI files)
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: Mapping[str, Any] | None
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Attempt:
    status: int
    body: Mapping[str, Any] | None
    headers: Mapping[str, str]
    sent: bool


class Requester:
    def __init__(
        self,
        config: HubSpotClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: HubSpotClientMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._tokens: TokenSource = config.token_source or StaticToken(
            config.access_token or SecretStr(""), config.base_url
        )
        self._portal = self._tokens.portal_key
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            transport=transport,
            timeout=httpx.Timeout(
                connect=config.connect_timeout_s,
                read=config.read_timeout_s,
                write=config.write_timeout_s,
                pool=config.pool_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency
            ),
            headers={
                "Accept": "application/json",
                "User-Agent": config.user_agent,
            },
        )
        self._concurrency: RollingWindowBucket | None = None

    def limits(self) -> PortalLimits:
        """The portal's shared buckets (of the running event loop)."""
        c = self.config
        return portal_limits(
            self._portal,
            burst_limit=c.burst_limit,
            burst_window_s=c.burst_window_s,
            search_per_second=c.search_per_second,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        lane: Lane = Lane.BACKFILL,
        bucket: Bucket = Bucket.BURST,
        idempotent: bool = True,
    ) -> ApiResponse:
        """Send until HubSpot accepts (2xx/207) or the policy gives up; ``endpoint`` is the
        templated path used in metrics and messages. Raises :class:`HubSpotAuthError`,
        :class:`DailyLimitExhausted`, :class:`HubSpotRecordError` or
        :class:`HubSpotRetriesExhaustedError`."""
        policy = self.config.retry
        attempt = 0
        renewals = 0
        while True:
            attempt += 1
            token = await self._tokens.token()
            result = await self._attempt(method, path, endpoint, json, params, lane, bucket, token)
            verdict = classify(result.status, result.body, result.headers)
            self._count(endpoint, method, result, verdict)
            if verdict.ok:
                return ApiResponse(result.status, result.body, result.headers)
            details = HubSpotErrorDetails.from_body(
                result.status, result.body, correlation_header=header(result.headers, CORRELATION_HEADER)
            )
            if (
                result.status == 401
                and details.category == "EXPIRED_AUTHENTICATION"
                and renewals < MAX_TOKEN_RENEWALS
            ):
                # an OAuth access token expired before its refresh: renew and send again (the
                # renewed one can be expired by the time it is sent, too: a few times, not forever)
                renewals += 1
                if await self._tokens.refresh(token) is not None:
                    attempt -= 1
                    continue
            if verdict.outcome is Outcome.FATAL:
                raise self._fatal(verdict, details, endpoint)
            if verdict.outcome is Outcome.SKIPPABLE:
                raise HubSpotRecordError(
                    f"{method} {endpoint}: {details.describe()}", details, endpoint=endpoint
                )
            ambiguous = result.status == CONNECTION_ERROR and result.sent and not idempotent
            too_long = verdict.retry_after is not None and verdict.retry_after > policy.max_retry_after_s
            if attempt >= policy.max_attempts or ambiguous or too_long:
                why = "ambiguous failure of a non-idempotent request" if ambiguous else f"{attempt} attempts"
                raise HubSpotRetriesExhaustedError(
                    f"{method} {endpoint} still failing after {why}: {details.describe()}",
                    details,
                    endpoint=endpoint,
                    attempts=attempt,
                    retry_after=verdict.retry_after,
                )
            delay = policy.delay(attempt, verdict.retry_after, self._rng)
            if self._metrics is not None:
                self._metrics.retries.labels(reason=_retry_reason(result.status)).inc()
            log.info(
                "hubspot: %s %s answered %s (%s), retry %d/%d in %.2fs",
                method,
                endpoint,
                result.status or "no answer",
                verdict.policy or verdict.reason,
                attempt,
                policy.max_attempts - 1,
                delay,
            )
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        endpoint: str,
        json: Any,
        params: Mapping[str, Any] | None,
        lane: Lane,
        bucket: Bucket,
        token: str,
    ) -> _Attempt:
        limits = self.limits()
        limiter = {Bucket.BURST: limits.burst, Bucket.SEARCH: limits.search}.get(bucket)
        if self._concurrency is None:
            self._concurrency = RollingWindowBucket(self.config.max_concurrency, 0.0)
        if limiter is not None:
            await limiter.acquire(lane)
        sent = False
        try:
            share = self.config.fair_share
            fair = (
                share.slot(self._portal, lane, weight=limits.burst.limit // 10)
                if share is not None
                else contextlib.nullcontext()
            )
            async with self._concurrency.slot(lane), fair:
                started = time.perf_counter()
                try:
                    response = await self._http.request(
                        method, path, json=json, params=params, headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx.TransportError as exc:
                    sent = not isinstance(exc, _NOT_SENT)
                    body = {"message": f"{type(exc).__name__}: {exc}", "category": "CONNECTION_ERROR"}
                    return _Attempt(CONNECTION_ERROR, body, {}, sent)
                finally:
                    if self._metrics is not None:
                        self._metrics.request_seconds.labels(endpoint=endpoint).observe(
                            time.perf_counter() - started
                        )
                sent = True
                result = _Attempt(response.status_code, _json_body(response), response.headers, True)
                self._observe(limits, bucket, result)
                return result
        finally:
            if limiter is not None:
                limiter.release(sent=sent)

    def _observe(self, limits: PortalLimits, bucket: Bucket, result: _Attempt) -> None:
        """Feed the rate-limit headers (and 429s) to the buckets and the headroom gauges."""
        headers = result.headers
        remaining = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        if bucket is Bucket.BURST:
            interval_ms = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            limits.burst.observe(
                limit=_int_header(headers, "X-HubSpot-RateLimit-Max"),
                remaining=remaining,
                window_s=interval_ms / 1000.0 if interval_ms else None,
            )
        if result.status == 429 and result.body:
            policy = result.body.get("policyName")
            if policy == RateLimitPolicy.TEN_SECONDLY_ROLLING:
                limits.burst.saturate()
            elif policy == RateLimitPolicy.SECONDLY:
                limits.search.saturate()
        if self._metrics is not None:
            if remaining is not None:
                self._metrics.headroom.labels(window="ten_secondly").set(remaining)
            burst_max = _int_header(headers, "X-HubSpot-RateLimit-Max")
            if burst_max is not None:
                self._metrics.limit.labels(window="ten_secondly").set(burst_max)
            daily = _int_header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
            if daily is not None:
                self._metrics.headroom.labels(window="daily").set(daily)
            daily_max = _int_header(headers, "X-HubSpot-RateLimit-Daily")
            if daily_max is not None:
                self._metrics.limit.labels(window="daily").set(daily_max)

    def _count(self, endpoint: str, method: str, result: _Attempt, verdict: Classification) -> None:
        if self._metrics is None:
            return
        status = str(result.status) if result.status else "connection_error"
        self._metrics.requests.labels(endpoint=endpoint, method=method, status=status).inc()
        if result.status == 429:
            self._metrics.rate_limited.labels(policy=verdict.policy or "unknown").inc()

    @staticmethod
    def _fatal(verdict: Classification, details: HubSpotErrorDetails, endpoint: str) -> HubSpotFatalError:
        if verdict.reason == "daily_limit":
            return DailyLimitExhausted(
                f"HubSpot's daily API limit of this portal is used up ({endpoint}): {details.describe()}; "
                "requests fail until it resets at midnight in the account's time zone",
                details,
                endpoint=endpoint,
            )
        if details.status == 401:
            return HubSpotAuthError(
                f"HubSpot rejected the access token on {endpoint} ({details.describe()}); "
                "check HUBSPOT_ACCESS_TOKEN (wrong, revoked or expired private-app token)",
                details,
                endpoint=endpoint,
                missing_scopes=[],
            )
        if details.status == 403:
            scopes = required_scopes(details.body)
            named = f"missing scopes: {', '.join(scopes)}" if scopes else "the token lacks a required scope"
            return HubSpotAuthError(
                f"HubSpot denied {endpoint}, {named} ({details.describe()}); "
                "grant them to the private app and update HUBSPOT_ACCESS_TOKEN",
                details,
                endpoint=endpoint,
                missing_scopes=scopes,
            )
        return HubSpotFatalError(f"{endpoint}: {details.describe()}", details, endpoint=endpoint)


def _retry_reason(status: int) -> str:
    if status == CONNECTION_ERROR:
        return "connection"
    if status in (429, 477):
        return str(status)
    return "5xx"


def _json_body(response: httpx.Response) -> Mapping[str, Any] | None:
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:500]}
    return body if isinstance(body, Mapping) else {"results": body}


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = header(headers, name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
