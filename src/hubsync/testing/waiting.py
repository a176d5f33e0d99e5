"""Waiting in tests for something to happen: poll a condition until it holds, or fail saying what
was awaited.

    row = wait_for(lambda: find_row(url, 7), timeout=10, what="row 7")
    await async_wait_for(lambda: relay.active, what="the relay to take the lock")

The condition is called until it returns a truthy value, which is returned. Between calls the
wait sleeps ``interval`` seconds (never past the deadline); the condition is called one last time
at the deadline, and when that is still falsy, :class:`WaitTimeoutError` (an ``AssertionError``)
names ``what`` and the last value. Exceptions raised by the condition propagate at once, so a
condition can fail early (``assert process.poll() is None``). ``interval=0`` suits conditions
that block by themselves, such as a Kafka consumer's ``poll(0.2)``.

``what`` may be a function: it is called only on failure, to report the state at that moment.
"""

from __future__ import annotations

import asyncio
import inspect
import reprlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

from hubsync.errors import FatalError

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_TIMEOUT_S",
    "WaitTimeoutError",
    "async_wait_for",
    "wait_for",
]

T = TypeVar("T")

#: how long a wait lasts unless told
DEFAULT_TIMEOUT_S = 30.0
#: the pause between two calls of the condition unless told
DEFAULT_INTERVAL_S = 0.05

#: what is awaited: a text, or a function giving one when the wait fails
Description = str | Callable[[], str] | None

_LAST_VALUE = reprlib.Repr()
_LAST_VALUE.maxstring = 300
_LAST_VALUE.maxother = 300
_LAST_VALUE.maxlist = _LAST_VALUE.maxtuple = _LAST_VALUE.maxdict = _LAST_VALUE.maxset = 20


class WaitTimeoutError(FatalError, AssertionError):
    """The condition did not hold before the deadline: the test fails (an ``AssertionError``)."""


class _Deadline:
    """The bookkeeping of one wait, shared by :func:`wait_for` and :func:`async_wait_for`."""

    __slots__ = ("condition", "expires", "interval", "timeout", "what")

    def __init__(self, condition: object, timeout: float, interval: float, what: Description) -> None:
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, not {timeout}")
        if interval < 0:
            raise ValueError(f"interval must be >= 0, not {interval}")
        self.condition = condition
        self.timeout = timeout
        self.interval = interval
        self.what = what
        self.expires = time.monotonic() + timeout

    def pause(self, last: object) -> float:
        """Seconds to sleep before the next call; raises :class:`WaitTimeoutError` once time is up."""
        remaining = self.expires - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"timed out after {self.timeout:g} s waiting for {self.describe()};"
                f" last value: {_LAST_VALUE.repr(last)}"
            )
        return min(self.interval, remaining)

    def describe(self) -> str:
        if self.what is None:
            name = getattr(self.condition, "__qualname__", None) or repr(self.condition)
            return f"the condition {name}"
        return self.what() if callable(self.what) else self.what


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    what: Description = None,
) -> T:
    """Call ``condition`` until it returns a truthy value and return that value; raise
    :class:`WaitTimeoutError` naming ``what`` and the last value after ``timeout`` seconds."""
    deadline = _Deadline(condition, timeout, interval, what)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()  # never to be awaited: no "never awaited" warning
            raise TypeError(f"{deadline.describe()} is asynchronous: use async_wait_for")
        if value:
            return value
        time.sleep(deadline.pause(value))


@overload
async def async_wait_for(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: Description = ...,
) -> T: ...


@overload
async def async_wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: Description = ...,
) -> T: ...


async def async_wait_for(
    condition: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    what: Description = None,
) -> T:
    """:func:`wait_for` on an event loop: ``condition`` may be a coroutine function or a plain
    one (keep it quick: it runs on the loop), and the pauses let the loop run other tasks."""
    deadline = _Deadline(condition, timeout, interval, what)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(deadline.pause(value))
