"""hubsync's one backoff policy: bounded exponential, with optional full jitter.

Every retry loop waits by it: the HubSpot client's request retries (with jitter, a server-given
``Retry-After`` as a floor), the ingest and push batch retries, the outbox relay's reconnects and
``hubsync run``'s component restarts. :class:`Backoff` is the policy (stateless: attempt -> seconds);
:class:`BackoffSchedule` walks it for a loop that starts over after a success.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: exponents past this give the cap anyway; bounding them keeps ``2**n`` small
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempt ``n`` (1-based) waits ``base_s * 2**(n-1)`` seconds, at most ``max_s``.

    With ``jitter`` the wait is a uniform draw in ``[0, that]`` (AWS's "full jitter"), which
    spreads many clients that failed together over the window instead of retrying in step.
    """

    base_s: float = 0.5
    max_s: float = 30.0
    jitter: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.base_s <= self.max_s:
            raise ValueError(f"need 0 <= base_s <= max_s, got base_s={self.base_s}, max_s={self.max_s}")

    def cap(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt``."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        return min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        cap = self.cap(attempt)
        if not self.jitter:
            return cap
        return (rng or _RNG).uniform(0.0, cap)

    def __call__(self, attempt: int) -> float:
        return self.delay(attempt)


@dataclass(slots=True)
class BackoffSchedule:
    """The waits of one retry loop: :meth:`next` after each failure, :meth:`reset` after a success."""

    policy: Backoff
    attempt: int = field(default=0)

    def next(self) -> float:
        self.attempt += 1
        return self.policy.delay(self.attempt)

    def reset(self) -> None:
        self.attempt = 0


_RNG = random.Random()  # noqa: S311 - jitter, not cryptography
