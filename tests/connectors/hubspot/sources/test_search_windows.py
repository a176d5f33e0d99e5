"""Window splitting against the sandbox: more than 10,000 changes in one window all arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hubsync.connectors.hubspot.sources.search_windows import (
    Window,
    WindowOverflowError,
    read_window,
    search_body,
)
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import Writer
from hubsync.sandbox.server import ThreadedSandbox

T0 = 1_790_000_000_000


class HttpSearch:
    """A bare search call over HTTP (the real client adds rate limiting and retries)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.calls = 0

    async def search(self, object_type: HubSpotObjectType, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls += 1
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            response = await http.post(
                f"/crm/v3/objects/{object_type}/search", json=body, headers={"Authorization": "Bearer t"}
            )
        response.raise_for_status()
        data: Mapping[str, Any] = response.json()
        return data


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    config = SandboxConfig(access_token=SecretStr("t"), search_per_second=10_000)
    with ThreadedSandbox(config) as box:
        rows = [
            # 12,500 contacts changed within 5 seconds, 300 of them in the same millisecond
            {
                "email": f"c{i}@w.example",
                "createdate": str(T0 - 60_000),
                "lastmodifieddate": str(T0 + (i % 5000 if i >= 300 else 0)),
            }
            for i in range(12_500)
        ]
        box.state.store.load("contact", rows, Writer("IMPORT"))
        yield box


def read_all(api: HttpSearch, window: Window) -> list[Mapping[str, Any]]:
    async def run() -> list[Mapping[str, Any]]:
        return [r async for page in read_window(api, "contacts", window, ["email"]) for r in page]

    return asyncio.run(run())


def test_more_than_the_cap_in_one_window_all_arrive_in_order(sandbox: ThreadedSandbox) -> None:
    api = HttpSearch(sandbox.base_url)
    records = read_all(api, Window(T0 - 1000, T0 + 10_000))
    ids = [r["id"] for r in records]
    assert len(ids) == 12_500 == len(set(ids))
    stamps = [r["properties"]["lastmodifieddate"] for r in records]
    assert stamps == sorted(stamps)
    # 12,500 > 10,000 forces at least one split; every page is at most 200 records
    assert api.calls >= 12_500 // 200 + 2


def test_small_window_reads_exactly_its_records(sandbox: ThreadedSandbox) -> None:
    records = read_all(HttpSearch(sandbox.base_url), Window(T0, T0 + 1))
    expected = sum(1 for i in range(12_500) if i < 300 or i % 5000 == 0)  # 300 + rows 5000 and 10000
    assert len(records) == expected == 302


def test_unsplittable_overflow_is_reported() -> None:
    class Overflowing:
        async def search(self, object_type: HubSpotObjectType, body: Mapping[str, Any]) -> Mapping[str, Any]:
            return {"total": 10_001, "results": []}

    async def run() -> None:
        async for _ in read_window(Overflowing(), "contacts", Window(5, 6), []):
            pass

    with pytest.raises(WindowOverflowError, match="10001 records"):
        asyncio.run(run())


def test_window_validation_and_body() -> None:
    with pytest.raises(ValueError, match="empty window"):
        Window(10, 10)
    assert Window(0, 10).halves() == (Window(0, 5), Window(5, 10))
    assert Window(0, 10).parts(3) == [Window(0, 3), Window(3, 6), Window(6, 10)]
    assert Window(0, 2).parts(5) == [Window(0, 1), Window(1, 2)]  # never an empty part
    body = search_body("companies", Window(1, 2), ["name"], "200")
    assert body["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert body["properties"] == ["hs_lastmodifieddate", "name"] and body["after"] == "200"
