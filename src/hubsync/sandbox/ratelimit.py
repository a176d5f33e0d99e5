"""HubSpot's API rate limits for one sandbox portal: pure bookkeeping, no I/O.

What HubSpot does, and so what this models (sources: HubSpot's usage-guidelines page, the
``x-hubspot-rate-limit-exemptions`` marks in ``shared/hubspot-openapi/``, and recorded live
responses from 2022, e.g. grouparoo's nock recordings of ``api.hubapi.com``):

* **TEN_SECONDLY_ROLLING** — ``burst_limit`` requests per rolling ``burst_window_s`` for every
  CRM call except search (the search endpoints and the v4 association batch endpoints carry
  ``x-hubspot-rate-limit-exemptions: [ten-secondly]``).
* **SECONDLY** — search has its own limit, ``search_per_second`` requests per rolling second.
  Its 429 says "You have reached your secondly limit."
* **DAILY** — every call counts, the refused ones too (recorded traffic: a search answered 429
  still took one off ``X-HubSpot-RateLimit-Daily-Remaining``); the counter resets at midnight in
  the account's time zone.
* Refused requests do **not** take a slot of the rolling windows: HubSpot does not say, and a
  window that charged refusals would keep a client that retries too eagerly locked out for good.
  The headers follow the same accounting, so ``-Remaining`` is exactly what the next request gets.
* Headers: every non-search CRM response carries ``X-HubSpot-RateLimit-Daily``,
  ``-Daily-Remaining``, ``-Interval-Milliseconds``, ``-Max``, ``-Remaining`` and the deprecated,
  not enforced ``-Secondly``/``-Secondly-Remaining`` (``burst_limit`` / window seconds: 19 for
  190 per 10 s). Search responses carry only the two daily headers, as recorded on the wire (the
  docs say search carries none of them); search's own per-second budget is never advertised.

One instance serves one event loop; nothing here is thread-safe, and nothing needs to be.
Every check is O(1) amortized: each accepted request enters a deque once and leaves it once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from hubsync.hubspot_model.limits import RateLimitPolicy
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import HubSpotApiError

H_DAILY = "X-HubSpot-RateLimit-Daily"
H_DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"
H_INTERVAL_MS = "X-HubSpot-RateLimit-Interval-Milliseconds"
H_MAX = "X-HubSpot-RateLimit-Max"
H_REMAINING = "X-HubSpot-RateLimit-Remaining"
H_SECONDLY = "X-HubSpot-RateLimit-Secondly"
H_SECONDLY_REMAINING = "X-HubSpot-RateLimit-Secondly-Remaining"


#: the ``message`` HubSpot sends with each policy's 429
MESSAGES: dict[RateLimitPolicy, str] = {
    RateLimitPolicy.TEN_SECONDLY_ROLLING: "You have reached your ten_secondly_rolling limit.",
    RateLimitPolicy.SECONDLY: "You have reached your secondly limit.",
    RateLimitPolicy.DAILY: "You have reached your daily limit.",
}


@dataclass(slots=True)
class Decision:
    """The outcome of one :meth:`RateLimiter.check`: the headers go on the response either way."""

    allowed: bool
    headers: dict[str, str]
    policy: RateLimitPolicy | None = None
    #: how long until the refused request would pass (seconds); None when allowed
    retry_after_s: float | None = None


@dataclass(slots=True)
class _Window:
    """A rolling window: the monotonic times of the requests it admitted."""

    limit: int
    length_s: float
    stamps: deque[float] = field(default_factory=deque)

    def used(self, now: float) -> int:
        stamps, horizon = self.stamps, now - self.length_s
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        return len(stamps)

    def wait_s(self, now: float) -> float:
        return max(0.0, self.stamps[0] + self.length_s - now) if self.stamps else 0.0


class RateLimiter:
    """The limits of one portal. ``clock`` is monotonic seconds, ``wall_clock`` epoch seconds."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        timezone: str | tzinfo = "UTC",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._tz: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._burst = _Window(config.burst_limit, config.burst_window_s)
        self._search = _Window(config.search_per_second, 1.0)
        # the deprecated, unenforced per-second view of the burst limit
        self._per_second = _Window(0, 1.0)
        self.daily_limit = config.daily_limit
        self.daily_used = 0
        #: put ``Retry-After`` on 429s (HubSpot does not; a proxy in front of it may)
        self.send_retry_after = False
        self._daily_reset_at = self._next_midnight(wall_clock())
        self._refresh_static()

    # ---- configuration --------------------------------------------------------------------

    def configure(
        self,
        *,
        burst_limit: int | None = None,
        burst_window_s: float | None = None,
        daily_limit: int | None = None,
        search_per_second: int | None = None,
        retry_after: bool | None = None,
    ) -> None:
        """Change limits at runtime (the control API); what the windows hold is kept."""
        if retry_after is not None:
            self.send_retry_after = bool(retry_after)
        for name, value in (
            ("burst_limit", burst_limit),
            ("burst_window_s", burst_window_s),
            ("daily_limit", daily_limit),
            ("search_per_second", search_per_second),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if burst_limit is not None:
            self._burst.limit = burst_limit
        if burst_window_s is not None:
            self._burst.length_s = burst_window_s
        if daily_limit is not None:
            self.daily_limit = daily_limit
        if search_per_second is not None:
            self._search.limit = search_per_second
        self._refresh_static()

    def reset(self) -> None:
        """Forget every request: windows and the daily counter."""
        self._burst.stamps.clear()
        self._search.stamps.clear()
        self._per_second.stamps.clear()
        self.daily_used = 0
        self._daily_reset_at = self._next_midnight(self._wall_clock())

    def _refresh_static(self) -> None:
        self._secondly = max(1, int(self._burst.limit / self._burst.length_s))
        self._interval_ms = str(round(self._burst.length_s * 1000))
        self._max = str(self._burst.limit)
        self._daily = str(self.daily_limit)

    # ---- the check ------------------------------------------------------------------------

    def check(self, is_search: bool, *, burst_exempt: bool = False) -> Decision:
        """Admit or refuse one request and compute the headers of its response."""
        now = self._clock()
        self._roll_day()
        self.daily_used += 1
        daily_remaining = self.daily_limit - self.daily_used
        headers = {H_DAILY: self._daily, H_DAILY_REMAINING: str(max(0, daily_remaining))}

        if is_search:
            if daily_remaining < 0:
                return self._refuse(RateLimitPolicy.DAILY, headers)
            search = self._search
            if search.used(now) >= search.limit:
                return self._refuse(RateLimitPolicy.SECONDLY, headers, search.wait_s(now))
            search.stamps.append(now)
            return Decision(True, headers)

        burst = self._burst
        used = burst.used(now)
        per_second = self._per_second.used(now)
        if daily_remaining < 0:
            policy: RateLimitPolicy | None = RateLimitPolicy.DAILY
        elif not burst_exempt and used >= burst.limit:
            policy = RateLimitPolicy.TEN_SECONDLY_ROLLING
        else:
            policy = None
            if not burst_exempt:
                burst.stamps.append(now)
                self._per_second.stamps.append(now)
                used += 1
                per_second += 1
        headers[H_INTERVAL_MS] = self._interval_ms
        headers[H_MAX] = self._max
        headers[H_REMAINING] = str(max(0, burst.limit - used))
        headers[H_SECONDLY] = str(self._secondly)
        headers[H_SECONDLY_REMAINING] = str(max(0, self._secondly - per_second))
        if policy is None:
            return Decision(True, headers)
        return self._refuse(policy, headers, burst.wait_s(now))

    def _refuse(self, policy: RateLimitPolicy, headers: dict[str, str], wait_s: float = 0.0) -> Decision:
        if policy is RateLimitPolicy.DAILY:
            wait_s = max(0.0, self._daily_reset_at - self._wall_clock())
        return Decision(False, headers, policy, wait_s)

    # ---- the 429 --------------------------------------------------------------------------

    def error_for(self, decision: Decision) -> HubSpotApiError:
        """HubSpot's 429 body for a refused request (``errorType``/``policyName``/``groupName``)."""
        if decision.policy is None:
            raise ValueError("the request was allowed")
        return HubSpotApiError(
            429,
            "RATE_LIMITS",
            MESSAGES[decision.policy],
            headers=dict(decision.headers),
            extra={
                "errorType": "RATE_LIMIT",
                "policyName": decision.policy.value,
                "groupName": self.group_name(decision.policy),
            },
        )

    def group_name(self, policy: RateLimitPolicy) -> str:
        """``groupName`` of a 429, modelled on the one recorded for a private app's burst limit
        (``publicapi:private_app-api-calls-ten-secondly:<app>:<portal>``); the other two are the
        sandbox's analogues, HubSpot's exact strings for them were not found."""
        app, portal = self._config.app_id, self._config.portal_id
        if policy is RateLimitPolicy.TEN_SECONDLY_ROLLING:
            return f"publicapi:private_app-api-calls-ten-secondly:{app}:{portal}"
        if policy is RateLimitPolicy.SECONDLY:
            return f"publicapi:private_app-api-calls-search-secondly:{app}:{portal}"
        return f"publicapi:private_app-api-calls-daily:{portal}"

    # ---- daily reset and introspection ----------------------------------------------------

    def _roll_day(self) -> None:
        wall = self._wall_clock()
        if wall >= self._daily_reset_at:
            self.daily_used = 0
            self._daily_reset_at = self._next_midnight(wall)

    def _next_midnight(self, epoch_s: float) -> float:
        local = datetime.fromtimestamp(epoch_s, self._tz)
        tomorrow = (local + timedelta(days=1)).date()
        return datetime.combine(tomorrow, dtime(0), tzinfo=self._tz).timestamp()

    @property
    def daily_reset_at(self) -> float:
        """Epoch seconds of the next daily reset (midnight in the account's time zone)."""
        return self._daily_reset_at

    def snapshot(self) -> dict[str, Any]:
        """The limits and what is used of them now (the control API shows this)."""
        now = self._clock()
        self._roll_day()
        return {
            "burstLimit": self._burst.limit,
            "burstWindowMs": int(self._interval_ms),
            "burstUsed": self._burst.used(now),
            "searchPerSecond": self._search.limit,
            "searchUsed": self._search.used(now),
            "dailyLimit": self.daily_limit,
            "dailyUsed": self.daily_used,
            "dailyResetsAt": datetime.fromtimestamp(self._daily_reset_at, self._tz).isoformat(),
            "retryAfter": self.send_retry_after,
        }
