"""Password guessing, slowed down: failed sign-ins are counted per user name and client address in a
sliding window, and over the limit a sign-in is refused before any password is checked. argon2
verification is also bounded in concurrency, so a flood of sign-ins cannot take every core.

The counts live in the process (each replica counts its own), which bounds guessing per replica; a
shared store is not worth it for a console with a handful of users. Behind a proxy every client has
the proxy's address, so the key is the pair (user, address), not the address alone: one client
cannot lock everyone out, only that user from that address, for at most the window.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

#: failed sign-ins of one user from one address allowed per window
MAX_FAILURES = 5
WINDOW_S = 15 * 60.0
#: argon2 verifications running at once (each takes tens of milliseconds of a core)
CONCURRENT_CHECKS = 2
#: keys kept at most; the oldest go first (a bound on memory, whatever is thrown at the form)
MAX_KEYS = 10_000


class SignInThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self.checks = asyncio.Semaphore(CONCURRENT_CHECKS)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key, deque())
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def wait_s(self, user: str, address: str | None) -> float:
        """Seconds until this user may try again from this address (0: now)."""
        times = self._recent((user.lower(), address or "-"))
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[0] + self.window_s - self._clock())

    def failed(self, user: str, address: str | None) -> None:
        key = (user.lower(), address or "-")
        times = self._recent(key)
        times.append(self._clock())
        self._failures.pop(key, None)
        self._failures[key] = times  # newest last: the oldest keys are dropped first
        while len(self._failures) > MAX_KEYS:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, user: str, address: str | None) -> None:
        self._failures.pop((user.lower(), address or "-"), None)
