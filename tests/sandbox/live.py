"""A sandbox app served on a loopback port in a background thread, with a deterministic clock
and the events it emits kept in a list: the CRM route, conformance and SDK tests share it."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from aiohttp import web
from aiohttp.typedefs import Middleware

from hubsync.sandbox.app import create_app
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import ListSink
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.state import SandboxState
from hubsync.sandbox.store import CrmStore

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
APP_ID = 1160452


class Clock:
    """Deterministic epoch-ms clock: every reading advances it by 1 ms."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


class LiveSandbox:
    """The sandbox app served by aiohttp on 127.0.0.1 in a background thread.

    ``middlewares`` go to :func:`create_app` (e.g. the rate-limit middleware); they are made from
    the config by the caller, so a test can keep a handle on them.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, middlewares: Sequence[Middleware] = ()
    ) -> None:
        self.config = config or SandboxConfig(app_id=APP_ID)
        self.clock = Clock()
        self.sink = ListSink()
        registry = PropertyRegistry(self.clock)
        store = CrmStore(self.config, registry, self.sink, self.clock)
        self.state = SandboxState(self.config, registry, store, self.sink)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(create_app(self.config, state=self.state, middlewares=middlewares))
        self.base_url = ""
        self.http: httpx.Client

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> LiveSandbox:
        self._thread.start()
        self._run(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._run(site.start())
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        return self

    def stop(self) -> None:
        self.http.close()
        self._run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def reset(self) -> None:
        self.state.store.reset()
        self.state.registry.reset()
        self.sink.events.clear()

    @property
    def store(self) -> CrmStore:
        return self.state.store

    def create(self, object_type: str, **properties: str) -> dict[str, Any]:
        r = self.http.post(f"/crm/v3/objects/{object_type}", json={"properties": properties})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


def serving(server: LiveSandbox) -> Iterator[LiveSandbox]:
    """Start ``server`` for a fixture and stop it afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def assert_error(r: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert re.match(r"^[0-9a-f-]{36}$", body["correlationId"])
    return body
