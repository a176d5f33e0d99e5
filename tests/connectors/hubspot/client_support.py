"""Shared helpers of the HubSpot client tests: one sandbox per test module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig, RetryPolicy
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox

TOKEN = "pat-na1-11111111-2222-3333-4444-supersecret0"
DEFAULT_LIMITS = {
    "burst_limit": 190,
    "burst_window_s": 10.0,
    "daily_limit": 1_000_000,
    "search_per_second": 5,
}
#: fast retries so tests stay quick; the policy's shape is what is under test
FAST_RETRY = RetryPolicy(max_attempts=6, base_backoff_s=0.02, max_backoff_s=0.2)


class Control:
    """The sandbox's control API (``/_sandbox``)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/_sandbox", timeout=30)

    def reset(self) -> None:
        self.http.post("/reset").raise_for_status()
        self.limits(**DEFAULT_LIMITS)

    def limits(self, **limits: Any) -> None:
        self.http.put("/rate-limits", json=limits).raise_for_status()

    def faults(self, **faults: Any) -> None:
        self.http.put("/faults", json=faults).raise_for_status()

    def fail_next(self, n: int, status: int) -> None:
        self.http.post("/faults/fail-next", json={"n": n, "status": status}).raise_for_status()

    def requests(self, **query: Any) -> list[dict[str, Any]]:
        response = self.http.get("/requests", params={"limit": 10_000, **query})
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def statuses(self, path_prefix: str = "/crm/") -> list[int]:
        return [int(e["status"]) for e in self.requests(path_prefix=path_prefix)]


def sandbox_fixture() -> Iterator[ThreadedSandbox]:
    """Body of each test module's module-scoped ``sandbox`` fixture."""
    with ThreadedSandbox(SandboxConfig(access_token=SecretStr(TOKEN))) as sandbox:
        yield sandbox


def control_fixture(sandbox: ThreadedSandbox) -> Iterator[Control]:
    """Body of each test module's ``control`` fixture: a sandbox reset before and after the test."""
    ctl = Control(sandbox.base_url)
    ctl.reset()
    yield ctl
    ctl.reset()
    ctl.http.close()


def make_config(base_url: str, token: str = TOKEN, **overrides: Any) -> HubSpotClientConfig:
    values: dict[str, Any] = {"retry": FAST_RETRY, **overrides}
    return HubSpotClientConfig(access_token=SecretStr(token), base_url=base_url, **values)


def make_client(base_url: str, token: str = TOKEN, **overrides: Any) -> HubSpotClient:
    return HubSpotClient(make_config(base_url, token, **overrides))
