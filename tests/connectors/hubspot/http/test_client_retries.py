"""Retries: 5xx, 429 per policy, 477, connection errors; what the client raises when it gives up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import RetryPolicy
from hubsync.connectors.hubspot.http.errors import DailyLimitExhausted, HubSpotRetriesExhaustedError
from hubsync.errors import FatalError, RetriableError
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import TOKEN, Control, make_client, make_config


def run(base_url: str, scenario: Callable[[HubSpotClient], Any], **config: Any) -> Any:
    async def main() -> Any:
        async with make_client(base_url, **config) as client:
            return await scenario(client)

    return asyncio.run(main())


def run_mocked(
    handler: Callable[[httpx.Request], httpx.Response],
    scenario: Callable[[HubSpotClient], Any],
    **config: Any,
) -> Any:
    async def main() -> Any:
        async with HubSpotClient(
            make_config("https://hubspot.test", **config), transport=httpx.MockTransport(handler)
        ) as client:
            return await scenario(client)

    return asyncio.run(main())


def contact(i: int) -> dict[str, Any]:
    return {"properties": {"email": f"r{i}@example.com"}}


def test_two_503s_then_success(sandbox: ThreadedSandbox, control: Control) -> None:
    control.fail_next(2, 503)
    outcome = run(sandbox.base_url, lambda c: c.batch_create("contacts", [contact(1)]))
    assert outcome.ok
    assert control.statuses() == [503, 503, 201]


def test_ten_percent_5xx_every_request_succeeds(sandbox: ThreadedSandbox, control: Control) -> None:
    control.faults(error_rate=0.1, error_statuses=[500, 502, 503, 504], seed=11)

    async def scenario(client: HubSpotClient) -> None:
        outcome = await client.batch_create("contacts", [contact(i) for i in range(1000)])  # 10 chunks
        assert outcome.ok and len(outcome.succeeded) == 1000
        reads = await asyncio.gather(*(client.get_page("contacts", limit=5) for _ in range(120)))
        assert all(len(page.results) == 5 for page in reads)

    run(sandbox.base_url, scenario, retry=RetryPolicy(max_attempts=8, base_backoff_s=0.01, max_backoff_s=0.1))
    statuses = control.statuses()
    assert sum(1 for s in statuses if s >= 500) >= 5  # the faults did happen
    assert sum(1 for s in statuses if s < 300) == 130
    control.faults(error_rate=0.0)
    emails = run(sandbox.base_url, lambda c: c.search("contacts", {"limit": 1}))
    assert emails["total"] == 1000  # each create applied once


def test_a_502_with_an_html_page_is_retried_like_any_5xx(sandbox: ThreadedSandbox, control: Control) -> None:
    """HubSpot's CDN answers some 5xx with an HTML page, not JSON: no parse error, a retry."""
    control.faults(error_rate=1.0, error_statuses=[502], html_share=1.0, seed=3)

    async def scenario(client: HubSpotClient) -> None:
        async def heal() -> None:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(control.faults, error_rate=0.0)

        healer = asyncio.create_task(heal())
        outcome = await client.batch_create("contacts", [contact(7)])
        await healer
        assert outcome.ok and len(outcome.succeeded) == 1

    run(
        sandbox.base_url, scenario, retry=RetryPolicy(max_attempts=50, base_backoff_s=0.05, max_backoff_s=0.1)
    )
    statuses = control.statuses()
    assert statuses[0] == 502 and statuses[-1] == 201


def test_retries_exhausted_raise_retriable_with_the_last_answer(
    sandbox: ThreadedSandbox, control: Control
) -> None:
    control.fail_next(3, 502)
    policy = RetryPolicy(max_attempts=3, base_backoff_s=0.01, max_backoff_s=0.02)

    async def scenario(client: HubSpotClient) -> None:
        with pytest.raises(HubSpotRetriesExhaustedError) as caught:
            await client.get_page("contacts")
        error = caught.value
        assert isinstance(error, RetriableError)
        assert error.attempts == 3 and error.details.status == 502
        assert error.details.correlation_id and "502" in str(error)
        control.fail_next(3, 503)
        outcome = await client.batch_update("contacts", [{"id": "1", "properties": {}}])
        (failure,) = outcome.failed
        assert failure.retriable and failure.attempts == 3 and failure.status == 503

    run(sandbox.base_url, scenario, retry=policy)


def test_daily_limit_raises_without_retrying(sandbox: ThreadedSandbox, control: Control) -> None:
    control.limits(daily_limit=1)

    async def scenario(client: HubSpotClient) -> None:
        await client.get_page("contacts")
        with pytest.raises(DailyLimitExhausted) as caught:
            await client.get_page("contacts")
        assert isinstance(caught.value, FatalError)
        assert "daily" in str(caught.value).lower()
        with pytest.raises(DailyLimitExhausted):
            await client.batch_create("contacts", [contact(1)])
        with pytest.raises(DailyLimitExhausted):
            await client.search("contacts", {"limit": 1})

    run(sandbox.base_url, scenario)
    assert control.statuses() == [200, 429, 429, 429]


def test_ten_secondly_429_waits_for_the_window(sandbox: ThreadedSandbox, control: Control) -> None:
    control.limits(burst_limit=4, burst_window_s=0.5)
    with httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as other_app:
        for _ in range(4):  # another app of the portal fills the window
            other_app.get("/crm/v3/objects/contacts").raise_for_status()
    started = time.monotonic()
    page = run(sandbox.base_url, lambda c: c.get_page("contacts"))
    assert page.results == ()
    assert time.monotonic() - started >= 0.3
    assert control.statuses()[4:] == [429, 200]


def test_secondly_429_on_search_waits_for_the_next_second(sandbox: ThreadedSandbox, control: Control) -> None:
    control.limits(search_per_second=2)
    with httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as other_app:
        for _ in range(2):
            other_app.post("/crm/v3/objects/contacts/search", json={}).raise_for_status()
    body = run(sandbox.base_url, lambda c: c.search("contacts", {"limit": 1}))
    assert body["total"] == 0
    assert control.statuses()[2:] == [429, 200]


def test_477_honours_retry_after() -> None:
    answers = iter([httpx.Response(477, headers={"Retry-After": "0.3"}, json={"message": "migration"}),
                    httpx.Response(200, json={"results": []})])  # fmt: skip
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return next(answers)

    page = run_mocked(handler, lambda c: c.get_page("companies"))
    assert page.results == () and len(times) == 2
    assert times[1] - times[0] >= 0.3


def test_a_wait_longer_than_the_policy_allows_is_handed_to_the_caller() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "120"}, json={"message": "maintenance"})

    async def scenario(client: HubSpotClient) -> None:
        with pytest.raises(HubSpotRetriesExhaustedError) as caught:
            await client.get_page("contacts")
        assert caught.value.retry_after == 120.0 and caught.value.attempts == 1

    run_mocked(handler, scenario)


def test_connection_errors_are_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"results": [{"id": "1"}]})

    page = run_mocked(handler, lambda c: c.get_page("contacts"))
    assert [r["id"] for r in page.results] == ["1"] and len(calls) == 3


def test_unreachable_portal_gives_up_with_a_retriable_error() -> None:
    async def scenario(client: HubSpotClient) -> None:
        with pytest.raises(HubSpotRetriesExhaustedError) as caught:
            await client.get_page("contacts")
        assert caught.value.details.status == 0 and caught.value.attempts == 2
        assert "ConnectError" in str(caught.value) and TOKEN not in str(caught.value)

    run(
        "http://127.0.0.1:9",
        scenario,
        retry=RetryPolicy(max_attempts=2, base_backoff_s=0.01, max_backoff_s=0.01),
    )


def test_ambiguous_timeout_is_not_retried_for_creates_but_is_for_updates() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadTimeout("timed out", request=request)

    async def scenario(client: HubSpotClient) -> None:
        created = await client.batch_create("companies", [{"properties": {"domain": "acme.com"}}])
        assert created.failed[0].retriable and created.failed[0].attempts == 1
        assert calls == ["/crm/v3/objects/companies/batch/create"]  # a retry could duplicate it
        updated = await client.batch_update("companies", [{"id": "1", "properties": {"domain": "acme.com"}}])
        assert updated.failed[0].retriable and updated.failed[0].attempts == 3

    run_mocked(handler, scenario, retry=RetryPolicy(max_attempts=3, base_backoff_s=0.0, max_backoff_s=0.0))
    assert len(calls) == 4
