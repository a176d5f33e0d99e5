"""BackgroundService: an async context manager entered and exited on its own loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import pytest

from hubsync._runtime.background import BackgroundService


def test_enters_on_a_background_loop_and_exits_on_stop() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def service() -> AsyncIterator[str]:
        events.append(f"enter:{threading.current_thread().name}")
        yield "ready"
        events.append("exit")

    with BackgroundService(service(), name="bg-test") as bg:
        assert bg.running == "ready"
        assert bg.call(asyncio.sleep(0, result=42)) == 42
    assert events == ["enter:bg-test", "exit"]
    with pytest.raises(RuntimeError, match="bg-test is not started"):
        _ = bg.running


def test_a_failing_start_leaves_no_thread_behind() -> None:
    @contextlib.asynccontextmanager
    async def broken() -> AsyncIterator[None]:
        raise OSError("port in use")
        yield  # pragma: no cover

    bg = BackgroundService(broken(), name="bg-broken")
    with pytest.raises(OSError, match="port in use"):
        bg.start()
    assert not any(t.name == "bg-broken" for t in threading.enumerate())
