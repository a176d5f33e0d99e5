"""The sandbox's edge middlewares against a real aiohttp server with a dummy handler."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import not_found
from hubsync.sandbox.faults import FaultSettings
from hubsync.sandbox.middleware import (
    CORRELATION_HEADER,
    MISSING_CREDENTIALS,
    auth_middleware,
    edge_middlewares,
    fault_middleware,
    rate_limit_middleware,
    request_log_middleware,
)
from hubsync.sandbox.ratelimit import H_DAILY, H_DAILY_REMAINING, H_MAX, H_REMAINING, RateLimiter
from hubsync.sandbox.requestlog import RequestLog

TOKEN = "pat-na1-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"


async def dummy(request: web.Request) -> web.StreamResponse:
    """Echoes the request; ``/missing`` raises the sandbox's 404, ``/gone`` aiohttp's."""
    if request.path.endswith("/missing"):
        raise not_found("Object not found. objectId are usually numeric.")
    if request.path.endswith("/gone"):
        raise web.HTTPNotFound()
    body = await request.read()
    return web.json_response({"path": request.path, "bytes": len(body)})


@asynccontextmanager
async def serve(*middlewares: Middleware) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=list(middlewares))
    app.router.add_route("*", "/{tail:.*}", dummy)
    async with TestClient(TestServer(app)) as client:
        yield client


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def config(**overrides: Any) -> SandboxConfig:
    return replace(
        SandboxConfig(access_token=SecretStr(TOKEN), burst_limit=3, search_per_second=2), **overrides
    )


# ---- authentication -------------------------------------------------------------------------


def test_missing_and_wrong_tokens_get_hubspots_401() -> None:
    async def scenario() -> None:
        async with serve(auth_middleware(config())) as client:
            for headers in (
                {},
                {"Authorization": "Bearer "},
                {"Authorization": "Basic abc"},
                {"Authorization": "Bearer nope"},
            ):
                resp = await client.get(CONTACTS, headers=headers)
                assert resp.status == 401
                body = await resp.json()
                assert body["status"] == "error"
                assert body["message"] == MISSING_CREDENTIALS
                assert body["category"] == "INVALID_AUTHENTICATION"
                assert body["correlationId"] == resp.headers[CORRELATION_HEADER]
                assert resp.headers["x-hubspot-auth-failure"] == "401 Unauthorized"
            assert (await client.get(CONTACTS, headers=AUTH)).status == 200
            assert (await client.post("/webhooks/v3/1/settings")).status == 401
            assert (await client.get("/_sandbox/state")).status == 200  # control API needs no token

    run(scenario)


def test_any_token_is_accepted_when_none_is_configured() -> None:
    async def scenario() -> None:
        async with serve(auth_middleware(config(access_token=None))) as client:
            assert (await client.get(CONTACTS, headers={"Authorization": "bearer anything"})).status == 200
            assert (await client.get(CONTACTS, headers={"Authorization": "Bearer  "})).status == 401

    run(scenario)


def test_expired_token_gets_expired_authentication() -> None:
    now = 1_700_000_000.0

    async def scenario() -> None:
        mw = auth_middleware(
            config(), expired_tokens={"old": now - 75, "fresh": now + 60}, wall_clock=lambda: now
        )
        async with serve(mw) as client:
            resp = await client.get(CONTACTS, headers={"Authorization": "Bearer old"})
            assert resp.status == 401
            body = await resp.json()
            assert body["category"] == "EXPIRED_AUTHENTICATION"
            assert body["message"] == "The OAuth token used to make this call expired 75 second(s) ago."
            assert body["context"] == {"expire time": ["2023-11-14T22:12:05.000Z"]}
            assert (await client.get(CONTACTS, headers={"Authorization": "Bearer fresh"})).status == 200

    run(scenario)


# ---- rate limits ----------------------------------------------------------------------------


def test_rate_limit_headers_and_429() -> None:
    limiter = RateLimiter(config())

    async def scenario() -> None:
        async with serve(rate_limit_middleware(limiter)) as client:
            for remaining in ("2", "1", "0"):
                resp = await client.post(f"{CONTACTS}/batch/create", json={"inputs": []})
                assert resp.status == 200
                assert resp.headers[H_MAX] == "3" and resp.headers[H_REMAINING] == remaining
            resp = await client.post(f"{CONTACTS}/batch/create", json={"inputs": []})
            assert resp.status == 429
            assert "Retry-After" not in resp.headers
            assert resp.headers[H_REMAINING] == "0"
            body = await resp.json()
            assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
            assert body["message"] == "You have reached your ten_secondly_rolling limit."
            assert body["correlationId"] == resp.headers[CORRELATION_HEADER]
            # outside /crm/: neither limited nor decorated
            resp = await client.get("/webhooks/v3/1/settings")
            assert resp.status == 200 and H_MAX not in resp.headers
            # switched on at runtime (a proxy in front of HubSpot may add it): the wait, in whole seconds
            limiter.configure(retry_after=True)
            resp = await client.post(f"{CONTACTS}/batch/create", json={"inputs": []})
            assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1

    run(scenario)


def test_search_is_limited_per_second_with_daily_headers_only() -> None:
    limiter = RateLimiter(config())

    async def scenario() -> None:
        async with serve(rate_limit_middleware(limiter, send_retry_after=True)) as client:
            statuses = [(await client.post(SEARCH, json={})).status for _ in range(3)]
            assert statuses == [200, 200, 429]
            resp = await client.post(SEARCH, json={})
            assert resp.status == 429
            assert (await resp.json())["policyName"] == "SECONDLY"
            assert resp.headers["Retry-After"] == "1"
            assert set(resp.headers) >= {H_DAILY, H_DAILY_REMAINING}
            assert H_MAX not in resp.headers
            assert (await client.get(CONTACTS)).headers[H_REMAINING] == "2"  # search took no burst slot

    run(scenario)


def test_errors_from_handlers_carry_the_rate_limit_headers() -> None:
    limiter = RateLimiter(config())

    async def scenario() -> None:
        async with serve(rate_limit_middleware(limiter)) as client:
            resp = await client.get(f"{CONTACTS}/missing")
            assert resp.status == 404
            body = await resp.json()
            assert body["category"] == "OBJECT_NOT_FOUND"
            assert body["correlationId"] == resp.headers[CORRELATION_HEADER]
            assert resp.headers[H_REMAINING] == "2"
            resp = await client.get(f"{CONTACTS}/gone")
            assert resp.status == 404 and resp.headers[H_REMAINING] == "1"

    run(scenario)


# ---- faults ---------------------------------------------------------------------------------


async def statuses(
    client: TestClient[web.Request, web.Application], n: int, path: str = CONTACTS
) -> list[int]:
    return [(await client.get(path)).status for _ in range(n)]


def test_error_rate_is_within_tolerance_and_deterministic_for_a_seed() -> None:
    async def sample(seed: int) -> list[int]:
        faults = FaultSettings(error_rate=0.2, seed=seed)
        async with serve(fault_middleware(faults)) as client:
            return await statuses(client, 500)

    async def scenario() -> None:
        first, again, other = await sample(7), await sample(7), await sample(8)
        failed = [s for s in first if s != 200]
        assert 0.15 <= len(failed) / len(first) <= 0.25
        assert set(failed) <= {500, 502, 503, 504} and len(set(failed)) == 4
        assert first == again
        assert first != other

    run(scenario)


def test_fail_next_fails_exactly_the_next_requests() -> None:
    faults = FaultSettings()

    async def scenario() -> None:
        async with serve(fault_middleware(faults)) as client:
            faults.fail_next(2, 503)
            faults.fail_next(1, 500)
            assert await statuses(client, 5) == [503, 503, 500, 200, 200]
            faults.fail_next(1, 502)
            resp = await client.get(CONTACTS)
            body = await resp.json()
            assert resp.status == 502
            assert set(body) == {"status", "message", "correlationId"}
            assert body["correlationId"] == resp.headers[CORRELATION_HEADER]
            faults.fail_next(1, 500)
            assert (await client.get("/_sandbox/faults")).status == 200  # never faulted
            resp = await client.get(CONTACTS)
            assert resp.status == 500
            assert (await resp.json())["message"] == "internal error"
            assert faults.scripted_pending == 0

    run(scenario)


def test_html_share_answers_injected_errors_with_a_cdn_page() -> None:
    faults = FaultSettings(error_rate=1.0, error_statuses=(502,), html_share=1.0)

    async def scenario() -> None:
        async with serve(fault_middleware(faults)) as client:
            resp = await client.get(CONTACTS)
            assert resp.status == 502 and resp.content_type == "text/html"
            assert "<h1>502 Bad Gateway</h1>" in await resp.text()
            faults.update(html_share=0.0)
            resp = await client.get(CONTACTS)
            assert resp.content_type == "application/json"

    run(scenario)


def test_a_revoked_token_gets_hubspots_401_until_it_is_restored() -> None:
    faults = FaultSettings()
    limiter = RateLimiter(config())

    async def scenario() -> None:
        async with serve(*edge_middlewares(config(), limiter, faults, RequestLog())) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.get(CONTACTS, headers=headers)).status == 200
            faults.update(revoked_tokens=[TOKEN])
            resp = await client.get(CONTACTS, headers=headers)
            assert resp.status == 401 and (await resp.json())["category"] == "INVALID_AUTHENTICATION"
            assert TOKEN not in json.dumps(faults.to_json())
            faults.update(revoked_tokens=[])
            assert (await client.get(CONTACTS, headers=headers)).status == 200

    run(scenario)


def test_path_prefix_limits_faults() -> None:
    faults = FaultSettings(error_rate=1.0, path_prefix="/crm/v3/objects/companies")

    async def scenario() -> None:
        async with serve(fault_middleware(faults)) as client:
            assert await statuses(client, 3) == [200, 200, 200]
            assert all(s >= 500 for s in await statuses(client, 3, "/crm/v3/objects/companies"))
            faults.update(error_rate=0.0)
            assert await statuses(client, 2, "/crm/v3/objects/companies") == [200, 200]

    run(scenario)


def test_latency_is_applied() -> None:
    faults = FaultSettings(latency_ms=60, latency_jitter_ms=10)

    async def scenario() -> None:
        async with serve(fault_middleware(faults)) as client:
            started = time.perf_counter()
            assert await statuses(client, 5) == [200] * 5
            elapsed = time.perf_counter() - started
            assert elapsed >= 5 * 0.050
            faults.reset()
            started = time.perf_counter()
            await statuses(client, 5)
            assert time.perf_counter() - started < elapsed

    run(scenario)


def test_fault_settings_validate_their_input() -> None:
    faults = FaultSettings()
    with pytest.raises(ValueError, match="error_rate"):
        faults.update(error_rate=1.5)
    with pytest.raises(ValueError, match="unknown"):
        faults.update(rate=0.1)
    with pytest.raises(ValueError, match="error_statuses"):
        faults.update(error_statuses=[404])
    with pytest.raises(ValueError, match="status"):
        faults.fail_next(1, 418)
    faults.update(error_rate=0.5, error_statuses=[503], seed=3)
    assert faults.to_json()["errorStatuses"] == [503] and faults.seed == 3


# ---- request log ----------------------------------------------------------------------------


def test_request_log_records_requests_and_stays_bounded() -> None:
    log = RequestLog(maxlen=5)
    clock = iter(range(1000, 2000))

    async def scenario() -> None:
        mw = request_log_middleware(log, wall_clock=lambda: float(next(clock)))
        async with serve(mw) as client:
            resp = await client.post(f"{CONTACTS}?archived=false", data=b"x" * 123)
            assert resp.status == 200
            entry = log.query()[-1]
            assert (entry.method, entry.path, entry.query, entry.status) == (
                "POST",
                CONTACTS,
                "archived=false",
                200,
            )
            assert entry.request_bytes == 123 and entry.duration_ms >= 0
            assert entry.correlation_id == resp.headers[CORRELATION_HEADER]
            assert not entry.rate_limited and entry.fault_status is None
            assert (await client.get(f"{CONTACTS}/missing")).status == 500  # no error middleware here
            assert log.query()[-1].status == 404  # ... but the log saw the HubSpot error's status
            await client.get("/_sandbox/log")  # the control API is not logged
            for _ in range(6):
                await client.get("/crm/v3/objects/companies")
        assert len(log) == 5 and log.total == 8
        assert all(e.path == "/crm/v3/objects/companies" for e in log)
        assert log.query(method="get", path_prefix="/crm/v3/objects/comp", limit=2) == list(log)[-2:]
        assert log.query(status=404) == [] and log.count(status=(200, 404)) == 5
        assert [e.time for e in log.query(since=1006.0)] == [1006.0, 1007.0]
        log.clear()
        assert len(log) == 0

    run(scenario)


# ---- the four together ----------------------------------------------------------------------


def test_edge_stack_order() -> None:
    cfg = config()
    limiter, faults, log = RateLimiter(cfg), FaultSettings(), RequestLog()

    async def scenario() -> None:
        async with serve(*edge_middlewares(cfg, limiter, faults, log)) as client:
            resp = await client.get(CONTACTS)  # no token: refused before the limiter counts it
            assert resp.status == 401 and H_MAX not in resp.headers
            assert limiter.daily_used == 0
            faults.fail_next(1, 503)
            resp = await client.get(CONTACTS, headers=AUTH)  # a 5xx still costs a call
            assert resp.status == 503 and resp.headers[H_REMAINING] == "2"
            await client.get(CONTACTS, headers=AUTH)
            await client.get(CONTACTS, headers=AUTH)
            resp = await client.get(CONTACTS, headers=AUTH)
            assert resp.status == 429
        assert [(e.status, e.rate_limited, e.fault_status) for e in log] == [
            (401, False, None),
            (503, False, 503),
            (200, False, None),
            (200, False, None),
            (429, True, None),
        ]
        assert log.count(rate_limited=True) == 1
        assert len({e.correlation_id for e in log}) == 5

    run(scenario)
