"""Fault injection for the sandbox: latency and HubSpot-shaped 5xx answers.

:class:`FaultSettings` is mutable at runtime (the control API edits it while clients run). The
random draws come from one seeded RNG, so a given seed and a given order of requests fail the
same requests every run. ``fail_next`` scripts exact failures: the next *n* matching requests
fail with the given status, before any random draw is made.

HubSpot's own 500 body is ``{"status":"error","message":"internal error","correlationId":...}``
(a recorded 500 from ``api.hubapi.com`` had exactly those three fields); the sandbox answers
502/503/504 in the same JSON shape, although the real ones, coming from HubSpot's CDN, are often
HTML pages.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: the statuses a fault can answer with
FAULT_STATUSES: tuple[int, ...] = (500, 502, 503, 504)

FAULT_MESSAGES: dict[int, str] = {
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: paths never faulted: the control API must keep working to switch faults off again
CONTROL_PREFIX = "/_sandbox/"


def fault_page(status: int) -> str:
    """The HTML page a CDN in front of HubSpot answers a 5xx with (no JSON, no correlationId)."""
    reason = FAULT_MESSAGES.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def fault_body(status: int, correlation_id: str) -> dict[str, Any]:
    """HubSpot's body for a server-side failure."""
    return {
        "status": "error",
        "message": FAULT_MESSAGES.get(status, "internal error"),
        "correlationId": correlation_id,
    }


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait ``delay_s``, then answer ``status`` (None: pass it on);
    ``drop``: pass it on (HubSpot applies it) and then close the connection without answering."""

    delay_s: float = 0.0
    status: int | None = None
    drop: bool = False
    #: answer ``status`` with a CDN's HTML page instead of HubSpot's JSON body
    html: bool = False


_PASS = FaultDecision()


@dataclass
class FaultSettings:
    """Latency and error injection. All fields may be changed at any time (see :meth:`update`)."""

    latency_ms: float = 0.0
    #: each request's latency is ``latency_ms`` +- a uniform draw in ``[0, latency_jitter_ms]``
    latency_jitter_ms: float = 0.0
    #: share of matching requests answered with a random status from ``error_statuses``
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = FAULT_STATUSES
    #: share of matching requests applied and then left unanswered (the connection dropped)
    drop_rate: float = 0.0
    #: share of the injected 5xx answered with an HTML page (as HubSpot's CDN does), not JSON
    html_share: float = 0.0
    #: tokens answered 401 as if their app were deleted or the token rotated (not a path fault)
    revoked_tokens: frozenset[str] = frozenset()
    #: only paths starting with this prefix are faulted (None: every path but the control API)
    path_prefix: str | None = None
    seed: int | None = 0
    _rng: random.Random = field(init=False, repr=False)
    _scripted: deque[int] = field(init=False, repr=False, default_factory=deque)
    _drops: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._validate(self.latency_ms, self.latency_jitter_ms, self.error_rate, self.error_statuses)
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ValueError(f"drop_rate must be within [0, 1], got {self.drop_rate}")
        self._rng = random.Random(self.seed)  # noqa: S311 - test traffic, not cryptography

    @staticmethod
    def _validate(latency_ms: float, jitter_ms: float, error_rate: float, statuses: tuple[int, ...]) -> None:
        if latency_ms < 0 or jitter_ms < 0:
            raise ValueError("latency_ms and latency_jitter_ms must be >= 0")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {error_rate}")
        if not statuses or any(s not in FAULT_STATUSES for s in statuses):
            raise ValueError(f"error_statuses must be a non-empty subset of {FAULT_STATUSES}")

    # ---- runtime control ------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Apply a partial change (the control API's PATCH); ``seed`` re-seeds the RNG."""
        allowed = {
            "latency_ms",
            "latency_jitter_ms",
            "error_rate",
            "error_statuses",
            "drop_rate",
            "html_share",
            "revoked_tokens",
            "path_prefix",
            "seed",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        statuses = tuple(int(s) for s in changes.get("error_statuses", self.error_statuses))
        latency = float(changes.get("latency_ms", self.latency_ms))
        jitter = float(changes.get("latency_jitter_ms", self.latency_jitter_ms))
        rate = float(changes.get("error_rate", self.error_rate))
        self._validate(latency, jitter, rate, statuses)
        drop_rate = float(changes.get("drop_rate", self.drop_rate))
        if not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"drop_rate must be within [0, 1], got {drop_rate}")
        self.drop_rate = drop_rate
        html_share = float(changes.get("html_share", self.html_share))
        if not 0.0 <= html_share <= 1.0:
            raise ValueError(f"html_share must be within [0, 1], got {html_share}")
        self.html_share = html_share
        if "revoked_tokens" in changes:
            self.revoked_tokens = frozenset(str(t) for t in changes["revoked_tokens"])
        self.latency_ms, self.latency_jitter_ms, self.error_rate = latency, jitter, rate
        self.error_statuses = statuses
        if "path_prefix" in changes:
            self.path_prefix = changes["path_prefix"]
        if "seed" in changes:
            self.reseed(changes["seed"])

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self._rng.seed(seed)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Fail exactly the next ``n`` matching requests with ``status`` (queued after earlier
        scripted failures)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {FAULT_STATUSES}")
        self._scripted.extend([status] * n)

    def drop_next(self, n: int = 1) -> None:
        """Apply and then leave unanswered exactly the next ``n`` matching requests (after the
        scripted failures queued before them are used up)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._drops += n

    @property
    def scripted_pending(self) -> int:
        return len(self._scripted)

    def reset(self) -> None:
        """No latency, no errors, nothing scripted; the RNG restarts from ``seed``."""
        self.latency_ms = self.latency_jitter_ms = self.error_rate = self.drop_rate = self.html_share = 0.0
        self.error_statuses = FAULT_STATUSES
        self.path_prefix = None
        self.revoked_tokens = frozenset()
        self._scripted.clear()
        self._drops = 0
        self._rng.seed(self.seed)

    def to_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "latencyJitterMs": self.latency_jitter_ms,
            "errorRate": self.error_rate,
            "errorStatuses": list(self.error_statuses),
            "dropRate": self.drop_rate,
            "htmlShare": self.html_share,
            "revokedTokens": len(self.revoked_tokens),
            "dropsPending": self._drops,
            "pathPrefix": self.path_prefix,
            "seed": self.seed,
            "scriptedPending": len(self._scripted),
        }

    # ---- per request ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.latency_jitter_ms
            or self.error_rate
            or self._scripted
            or self.drop_rate
            or self._drops
        )

    def decide(self, path: str) -> FaultDecision:
        """The fault for one request to ``path`` (consumes a scripted failure or RNG draws)."""
        if not self.active or path.startswith(CONTROL_PREFIX):
            return _PASS
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return _PASS
        rng = self._rng
        delay_ms = self.latency_ms
        if self.latency_jitter_ms:
            delay_ms = max(0.0, delay_ms + rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms))
        status: int | None = None
        if self._scripted:
            status = self._scripted.popleft()
        elif self.error_rate and rng.random() < self.error_rate:
            statuses = self.error_statuses
            status = statuses[rng.randrange(len(statuses))]
        drop = False
        if status is None and self._drops:
            self._drops -= 1
            drop = True
        elif status is None and self.drop_rate and rng.random() < self.drop_rate:
            drop = True
        if status is None and not delay_ms and not drop:
            return _PASS
        html = status is not None and bool(self.html_share) and rng.random() < self.html_share
        return FaultDecision(delay_ms / 1000.0, status, drop, html)
