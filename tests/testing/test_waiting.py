"""``wait_for`` / ``async_wait_for``, on a fake clock: what they return, when they call the
condition, how they fail. No test here measures real time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import hubsync.testing.waiting as waiting
from hubsync.testing import WaitTimeoutError, async_wait_for, wait_for


class FakeClock:
    """Stands in for the ``time`` and ``asyncio`` modules of :mod:`hubsync.testing.waiting`: its
    sleeps only move the clock on, and are recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # still a point where other tasks run


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(waiting, "time", fake)
    monkeypatch.setattr(waiting, "asyncio", SimpleNamespace(sleep=fake.async_sleep))
    return fake


def answers(*values: Any, clock: FakeClock | None = None) -> tuple[Callable[[], Any], list[float]]:
    """A condition returning ``values`` in turn (the last one for ever), and the clock readings
    at which it was called."""
    remaining: Iterator[Any] = iter(values)
    calls: list[float] = []
    last: list[Any] = [None]

    def condition() -> Any:
        calls.append(clock.now if clock else 0.0)
        last[0] = next(remaining, last[0])
        return last[0]

    return condition, calls


# ---- wait_for -----------------------------------------------------------------------------------


def test_returns_the_first_truthy_value(clock: FakeClock) -> None:
    condition, calls = answers(None, 0, "", [], "ready", "later", clock=clock)
    assert wait_for(condition, timeout=10, interval=0.5, what="readiness") == "ready"
    assert len(calls) == 5


def test_a_condition_that_holds_at_once_is_called_once_and_never_sleeps(clock: FakeClock) -> None:
    condition, calls = answers({"id": 7}, clock=clock)
    assert wait_for(condition, timeout=0) == {"id": 7}
    assert len(calls) == 1 and clock.sleeps == []


def test_calls_are_an_interval_apart_and_the_last_one_is_at_the_deadline(clock: FakeClock) -> None:
    condition, calls = answers(False, clock=clock)
    with pytest.raises(WaitTimeoutError):
        wait_for(condition, timeout=1.0, interval=0.3, what="never")
    assert clock.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])
    assert [at - 1000.0 for at in calls] == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])


def test_a_timeout_names_what_was_awaited_and_the_last_value(clock: FakeClock) -> None:
    condition, _ = answers([], {}, clock=clock)
    with pytest.raises(AssertionError) as raised:
        wait_for(condition, timeout=2, interval=1, what="3 messages on t.contacts")
    assert isinstance(raised.value, WaitTimeoutError)
    assert str(raised.value) == "timed out after 2 s waiting for 3 messages on t.contacts; last value: {}"


def test_a_long_last_value_is_shortened(clock: FakeClock) -> None:
    class Progress:
        def __bool__(self) -> bool:
            return False

        def __repr__(self) -> str:
            return "P" * 100_000

    with pytest.raises(WaitTimeoutError) as raised:
        wait_for(Progress, timeout=0, what="progress")
    assert str(raised.value).startswith("timed out after 0 s waiting for progress; last value: PPP")
    assert len(str(raised.value)) < 400


def test_a_described_failure_reports_the_state_at_the_deadline(clock: FakeClock) -> None:
    seen: list[int] = []

    def condition() -> bool:
        seen.append(len(seen))
        return False

    with pytest.raises(WaitTimeoutError, match=r"waiting for the worker \(4 polls so far\)"):
        wait_for(condition, timeout=0.3, interval=0.1, what=lambda: f"the worker ({len(seen)} polls so far)")


def test_without_a_description_the_condition_is_named(clock: FakeClock) -> None:
    def table_is_ready() -> bool:
        return False

    with pytest.raises(
        WaitTimeoutError, match=r"waiting for the condition .*table_is_ready; last value: False"
    ):
        wait_for(table_is_ready, timeout=0)


def test_exceptions_of_the_condition_propagate_at_once(clock: FakeClock) -> None:
    def condition() -> bool:
        raise LookupError("the worker died")

    with pytest.raises(LookupError, match="the worker died"):
        wait_for(condition, timeout=10)
    assert clock.sleeps == []


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        wait_for(lambda: True, timeout=-1)
    with pytest.raises(ValueError, match="interval"):
        wait_for(lambda: True, interval=-0.1)

    async def ready() -> bool:
        return True

    with pytest.raises(TypeError, match="async_wait_for"):
        wait_for(ready)  # type: ignore[arg-type]


def test_a_real_wait_ends_when_the_condition_holds() -> None:
    """On the real clock too (nothing about how long it took is asserted)."""
    condition, calls = answers(0, 0, 42)
    assert wait_for(condition, timeout=30, interval=0.001) == 42
    assert len(calls) == 3


# ---- async_wait_for -----------------------------------------------------------------------------


def test_async_returns_the_first_truthy_value_of_a_coroutine_function(clock: FakeClock) -> None:
    values = iter([None, 0, "done"])

    async def condition() -> str | int | None:
        return next(values)

    assert asyncio.run(async_wait_for(condition, timeout=5, interval=0.25)) == "done"
    assert clock.sleeps == [0.25, 0.25]


def test_async_takes_a_plain_condition_too(clock: FakeClock) -> None:
    condition, calls = answers(False, True, clock=clock)
    assert asyncio.run(async_wait_for(condition, timeout=5, interval=0.5)) is True
    assert [at - 1000.0 for at in calls] == [0.0, 0.5]


def test_async_times_out_like_the_sync_one(clock: FakeClock) -> None:
    condition, calls = answers(None, clock=clock)
    with pytest.raises(
        WaitTimeoutError, match=r"^timed out after 1 s waiting for the relay; last value: None$"
    ):
        asyncio.run(async_wait_for(condition, timeout=1, interval=0.4, what="the relay"))
    assert clock.sleeps == pytest.approx([0.4, 0.4, 0.2])
    assert len(calls) == 4


def test_async_pauses_let_other_tasks_run() -> None:
    """The condition only holds once another task ran: the wait must not block the loop."""

    async def scenario() -> str:
        flag = asyncio.Event()

        async def setter() -> None:
            flag.set()

        task = asyncio.create_task(setter())
        found = await async_wait_for(lambda: flag.is_set() and "set", timeout=30, interval=0.001)
        await task
        return found

    assert asyncio.run(scenario()) == "set"
