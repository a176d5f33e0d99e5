"""Password guessing, slowed down: sign-in attempts that fail are counted per user name and client
address, and per client address alone, in a sliding window; over either limit a sign-in is refused
before any password is checked. An attempt counts as failed from the moment it is let through (and
is taken back when it succeeds), so guesses sent in parallel cannot all pass the check before the
first is counted. argon2 verification is bounded in concurrency, so a flood of sign-ins cannot take
every core.

The client address is the peer's, or, when the peer is a trusted proxy, the last address it put in
``X-Forwarded-For`` (:func:`hubsync.console.web.client_address`): one client can lock a user out from
its own address only. The counts live in the process (each replica counts its own).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from hubsync.console.users import USERNAME

#: failed sign-ins of one user from one address allowed per window
MAX_FAILURES = 5
#: failed sign-ins from one address, whatever the user names, allowed per window
MAX_FAILURES_PER_ADDRESS = 30
WINDOW_S = 15 * 60.0
#: argon2 verifications running at once (each takes tens of milliseconds of a core)
CONCURRENT_CHECKS = 2
#: keys kept at most; the oldest go first (a bound on memory, whatever is thrown at the form)
MAX_KEYS = 10_000
#: every name that cannot be a user's shares one counter (and takes no memory of its own)
INVALID_USER = "<invalid>"

Key = tuple[str, str]


class SignInThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[Key, deque[float]] = {}
        self.checks = asyncio.Semaphore(CONCURRENT_CHECKS)

    @staticmethod
    def _keys(user: str, address: str | None) -> tuple[Key, Key]:
        name = user.lower() if USERNAME.match(user) else INVALID_USER
        where = address or "-"
        return (name, where), ("*", where)

    def _recent(self, key: Key) -> deque[float]:
        times = self._failures.get(key, deque())
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def _wait(self, key: Key, limit: int) -> float:
        times = self._recent(key)
        if len(times) < limit:
            return 0.0
        return max(0.0, times[-limit] + self.window_s - self._clock())

    def wait_s(self, user: str, address: str | None) -> float:
        """Seconds until this user may try again from this address (0: now)."""
        mine, anyone = self._keys(user, address)
        return max(self._wait(mine, self.max_failures), self._wait(anyone, self.max_per_address))

    def attempt(self, user: str, address: str | None) -> float:
        """Before checking a password: 0 when it may be checked (the attempt is counted as failed
        until :meth:`succeeded`), else the seconds to wait (nothing counted)."""
        wait = self.wait_s(user, address)
        if not wait:
            for key in self._keys(user, address):
                self._add(key)
        return wait

    def _add(self, key: Key) -> None:
        times = self._recent(key)
        times.append(self._clock())
        self._failures.pop(key, None)
        self._failures[key] = times  # newest last: the oldest keys are dropped first
        while len(self._failures) > MAX_KEYS:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, user: str, address: str | None) -> None:
        """The password was right: the user's count from this address is cleared, and this attempt
        no longer counts against the address."""
        mine, anyone = self._keys(user, address)
        self._failures.pop(mine, None)
        times = self._failures.get(anyone)
        if times:
            times.pop()
