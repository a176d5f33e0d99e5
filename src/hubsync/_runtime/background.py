"""An asyncio service run from synchronous code: its own event loop on a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BackgroundService(Generic[T]):
    """Enters ``service`` (an async context manager) on a background event loop when started and
    exits it when stopped; :attr:`running` is what it yielded. A context manager for tests,
    benchmarks and the demo, which are synchronous callers of asyncio servers."""

    def __init__(self, service: AbstractAsyncContextManager[T], *, name: str, timeout: float = 120.0) -> None:
        self._service = service
        self._timeout = timeout
        self._what = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._running: T | None = None

    def call(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the service's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    @property
    def running(self) -> T:
        if self._running is None:
            raise RuntimeError(f"{self._what} is not started")
        return self._running

    def start(self) -> Self:
        self._thread.start()
        try:
            self._running = self.call(self._service.__aenter__())
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self) -> None:
        if self._running is not None:
            self._running = None
            self.call(self._service.__aexit__(None, None, None))
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
