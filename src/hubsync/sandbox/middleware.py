"""The sandbox's edge: aiohttp middlewares for logging, authentication, rate limits and faults.

Install them in this order (aiohttp runs the first one outermost; ``create_app`` puts its own
``hubspot_errors`` middleware around all of them)::

    create_app(config, middlewares=[
        request_log_middleware(log),      # sees every answer, the 401/429/5xx made below too
        auth_middleware(config),          # an unauthenticated call is not charged to the portal
        rate_limit_middleware(limiter),   # headers on every /crm/ answer, errors included
        fault_middleware(faults),         # injected failures still cost a call, as a real 5xx does
    ])

:func:`edge_middlewares` returns exactly that list. Each middleware is cheap: a few attribute
reads and dict operations per request, no locks (aiohttp serves a portal on one event loop).

Every request gets a correlation id (``X-HubSpot-Correlation-Id`` on the answer, ``correlationId``
in error bodies, the request log's ``correlation_id``); handlers that build error bodies
themselves should take it from :func:`correlation_id_of`. A :class:`HubSpotApiError` raised by a
``/crm/`` handler is rendered by :func:`rate_limit_middleware` itself (same body as
``hubspot_errors`` makes), so it carries the rate-limit headers and the request's correlation id.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from hubsync.hubspot_model.errors import CORRELATION_HEADER
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.faults import FaultSettings, fault_body, fault_page
from hubsync.sandbox.httpio import json_response
from hubsync.sandbox.ratelimit import RateLimiter
from hubsync.sandbox.requestlog import LogEntry, RequestLog, body_json, record_ids_of
from hubsync.sandbox.state import REQUEST_PORTAL, SANDBOX_PORTALS, state_of

CORRELATION_ID = web.RequestKey("hubsync_correlation_id", str)
RATE_LIMITED = web.RequestKey("hubsync_rate_limited", bool)
FAULT_STATUS = web.RequestKey("hubsync_fault_status", int)
DROPPED = web.RequestKey("hubsync_dropped", bool)


class DroppedResponse(web.StreamResponse):
    """No answer at all: the connection is closed once the request was applied, as when a network
    fails between HubSpot and its client. The client cannot know whether the write happened."""

    def __init__(self, status: int, withheld: bytes | None) -> None:
        super().__init__(status=status)
        #: the body HubSpot would have answered (for the request log)
        self.withheld = withheld

    async def prepare(self, request: web.BaseRequest) -> None:
        if request.transport is not None:
            request.transport.abort()

    async def write_eof(self, data: bytes = b"") -> None:
        del data


#: HubSpot's message for a missing, malformed or unknown token (a wrong token gets the same one)
MISSING_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
PROTECTED_PREFIXES = ("/crm/", "/webhooks/")
SEARCH_SUFFIX = "/search"


def correlation_id_of(request: web.Request) -> str:
    """This request's correlation id (made on first use)."""
    cid = request.get(CORRELATION_ID)
    if cid is None:
        cid = str(uuid.uuid4())
        request[CORRELATION_ID] = cid
    return cid


def error_response(request: web.Request, error: HubSpotApiError) -> web.Response:
    """Render ``error`` with this request's correlation id, in body and header alike."""
    error.correlation_id = correlation_id_of(request)
    response = json_response(error.to_json(), error.status, error.headers)
    response.headers[CORRELATION_HEADER] = error.correlation_id
    return response


# ---- authentication -----------------------------------------------------------------------


def _expired_message(seconds_ago: float) -> str:
    """HubSpot's wording. Recorded: "75 second(s)", "5 hour(s)", "19884 day(s)"; the thresholds
    between the units are the sandbox's guess (no minutes were ever seen)."""
    ago = int(seconds_ago)
    if ago >= 86_400:
        amount, unit = ago // 86_400, "day"
    elif ago >= 3_600:
        amount, unit = ago // 3_600, "hour"
    else:
        amount, unit = ago, "second"
    return f"The OAuth token used to make this call expired {amount} {unit}(s) ago."


def auth_middleware(
    config: SandboxConfig,
    *,
    expired_tokens: Mapping[str, float] | None = None,
    oauth_expiry: Callable[[str], float | None] | None = None,
    oauth_portal: Callable[[str], int | None] | None = None,
    prefixes: Sequence[str] = PROTECTED_PREFIXES,
    wall_clock: Callable[[], float] = time.time,
    faults: FaultSettings | None = None,
) -> Middleware:
    """Require ``Authorization: Bearer <token>`` on ``/crm/`` and ``/webhooks/`` paths.

    A missing or malformed header and a wrong token get HubSpot's 401 ``INVALID_AUTHENTICATION``
    body (HubSpot answers an unknown token exactly as a missing one). ``expired_tokens`` maps
    tokens to their expiry (epoch seconds): presenting one after it expired gets HubSpot's 401
    ``EXPIRED_AUTHENTICATION`` body with ``context["expire time"]`` (until then it is accepted,
    like ``config.access_token``). With ``config.access_token`` None, any non-empty token is
    accepted. ``oauth_expiry`` gives the expiry of an access token the sandbox's OAuth app issued
    (None: not one of them); such tokens are accepted until then, whatever ``config.access_token``.
    """
    expected = config.access_token.get_secret_value().encode() if config.access_token else None
    expiries = dict(expired_tokens or {})
    guarded = tuple(prefixes)

    def unauthorized(request: web.Request, category: str, message: str, **kw: Any) -> web.Response:
        error = HubSpotApiError(
            401, category, message, headers={"x-hubspot-auth-failure": "401 Unauthorized"}, **kw
        )
        return error_response(request, error)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(guarded):
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return unauthorized(request, "INVALID_AUTHENTICATION", MISSING_CREDENTIALS)
        if faults is not None and token in faults.revoked_tokens:  # HubSpot answers as for an unknown one
            return unauthorized(request, "INVALID_AUTHENTICATION", MISSING_CREDENTIALS)
        expiry = expiries.get(token)
        if expiry is None and oauth_expiry is not None:
            expiry = oauth_expiry(token)
            portal = None if expiry is None or oauth_portal is None else oauth_portal(token)
            if portal is not None:
                request[REQUEST_PORTAL] = portal  # the portal that installed the app
        if expiry is not None and wall_clock() >= expiry:
            expired_at = datetime.fromtimestamp(expiry, UTC).isoformat(timespec="milliseconds")
            return unauthorized(
                request,
                "EXPIRED_AUTHENTICATION",
                _expired_message(wall_clock() - expiry),
                context={"expire time": [expired_at.replace("+00:00", "Z")]},
            )
        if expiry is None and expected is not None and not hmac.compare_digest(token.encode(), expected):
            return unauthorized(request, "INVALID_AUTHENTICATION", MISSING_CREDENTIALS)
        return await handler(request)

    return middleware


# ---- rate limits --------------------------------------------------------------------------


def is_burst_exempt(path: str) -> bool:
    """The v4 association batch endpoints are exempt from the ten-secondly limit
    (``x-hubspot-rate-limit-exemptions`` in HubSpot's OpenAPI file)."""
    return path.startswith("/crm/v4/associations/") and ("/batch/" in path or "/usage/" in path)


def rate_limit_middleware(
    limiter: RateLimiter | Callable[[web.Request], RateLimiter],
    *,
    prefix: str = "/crm/",
    send_retry_after: bool = False,
) -> Middleware:
    """Apply ``limiter`` to ``/crm/`` paths (search: paths ending in ``/search``) and put its
    headers on every answer, errors included.

    HubSpot sends no ``Retry-After`` with a 429 (none in recorded 429s; its docs only name one
    for 477 "migration in progress"), so neither does the sandbox unless ``send_retry_after``.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(prefix):
            return await handler(request)
        portal_limiter = limiter if isinstance(limiter, RateLimiter) else limiter(request)
        decision = portal_limiter.check(path.endswith(SEARCH_SUFFIX), burst_exempt=is_burst_exempt(path))
        headers = decision.headers
        if not decision.allowed:
            request[RATE_LIMITED] = True
            error = portal_limiter.error_for(decision)
            if (send_retry_after or portal_limiter.send_retry_after) and decision.retry_after_s is not None:
                error.headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s)))
            return error_response(request, error)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # rendered further out; keep the headers on it
            exc.headers.update(headers)
            raise
        except HubSpotApiError as exc:
            response = error_response(request, exc)
        if not response.prepared:
            response.headers.update(headers)
        return response

    return middleware


# ---- faults -------------------------------------------------------------------------------


def fault_middleware(faults: FaultSettings) -> Middleware:
    """Delay and/or fail requests as ``faults`` says (read afresh for every request)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not faults.active:
            return await handler(request)
        decision = faults.decide(request.path)
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.drop:
            request[DROPPED] = True
            try:  # applied, whatever its answer would have been
                applied = await handler(request)
            except (HubSpotApiError, web.HTTPException) as refused:
                return DroppedResponse(refused.status, None)
            body = applied.body if isinstance(applied, web.Response) else None
            return DroppedResponse(applied.status, body if isinstance(body, bytes) else None)
        if decision.status is None:
            if decision.delay_s > 0:
                request[FAULT_STATUS] = 0
            return await handler(request)
        request[FAULT_STATUS] = decision.status
        if decision.html:
            return web.Response(
                text=fault_page(decision.status), status=decision.status, content_type="text/html"
            )
        cid = correlation_id_of(request)
        return json_response(fault_body(decision.status, cid), decision.status, {CORRELATION_HEADER: cid})

    return middleware


# ---- request log --------------------------------------------------------------------------


def _answer_body(response: web.StreamResponse) -> bytes | None:
    if isinstance(response, DroppedResponse):
        return response.withheld
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else None


def _captured(path: str, sent: bytes | None, answered: bytes | None) -> dict[str, Any]:
    request_body, response_body = body_json(sent), body_json(answered)
    return {
        "request_body": request_body,
        "response_body": response_body,
        "record_ids": record_ids_of(path, request_body, response_body),
    }


def request_log_middleware(
    log: RequestLog,
    *,
    skip_prefixes: Sequence[str] = ("/_sandbox/",),
    clock: Callable[[], float] = time.perf_counter,
    wall_clock: Callable[[], float] = time.time,
) -> Middleware:
    """Record every answered request in ``log`` (control API paths skipped) and give every
    answer an ``X-HubSpot-Correlation-Id``. A handler's exception is logged with its status
    (500 for anything that is not an HTTP or HubSpot error) and re-raised."""
    skipped = tuple(skip_prefixes)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if skipped and request.path.startswith(skipped):
            return await handler(request)
        arrived, started = wall_clock(), clock()
        cid = correlation_id_of(request)
        status = 500
        sent = await request.read() if log.capture_bodies and request.can_read_body else None
        answered: bytes | None = None
        try:
            response = await handler(request)
            status = response.status
            if log.capture_bodies:
                answered = _answer_body(response)
            if not response.prepared and CORRELATION_HEADER not in response.headers:
                response.headers[CORRELATION_HEADER] = cid
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers.setdefault(CORRELATION_HEADER, cid)
            raise
        except HubSpotApiError as exc:  # rendered further out: with this request's id
            status = exc.status
            exc.correlation_id = cid
            exc.headers.setdefault(CORRELATION_HEADER, cid)
            raise
        finally:
            log.append(
                LogEntry(
                    time=arrived,
                    method=request.method,
                    path=request.path,
                    query=request.query_string,
                    status=status,
                    duration_ms=(clock() - started) * 1000.0,
                    request_bytes=request.content_length or 0,
                    rate_limited=request.get(RATE_LIMITED, False),
                    correlation_id=cid,
                    fault_status=request.get(FAULT_STATUS),
                    dropped=request.get(DROPPED, False),
                    **_captured(request.path, sent, answered) if log.capture_bodies else {},
                )
            )

    return middleware


def _portal_limiter(request: web.Request, default: RateLimiter) -> RateLimiter:
    return state_of(request).limiter if SANDBOX_PORTALS in request.app else default


def edge_middlewares(
    config: SandboxConfig,
    limiter: RateLimiter,
    faults: FaultSettings,
    log: RequestLog,
    *,
    oauth_expiry: Callable[[str], float | None] | None = None,
    oauth_portal: Callable[[str], int | None] | None = None,
) -> list[Middleware]:
    """The four middlewares in the order described above; the rate limits are those of the
    request's portal (each portal of a sandbox has its own)."""
    return [
        request_log_middleware(log),
        auth_middleware(config, oauth_expiry=oauth_expiry, oauth_portal=oauth_portal, faults=faults),
        rate_limit_middleware(
            lambda request: state_of(request).limiter if SANDBOX_PORTALS in request.app else limiter
        ),
        fault_middleware(faults),
    ]
