"""The sandbox's rate limiter: windows, daily reset, headers and the 429 body, on a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hubsync.hubspot_model.limits import RateLimitPolicy
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.ratelimit import (
    H_DAILY,
    H_DAILY_REMAINING,
    H_INTERVAL_MS,
    H_MAX,
    H_REMAINING,
    H_SECONDLY,
    H_SECONDLY_REMAINING,
    RateLimiter,
)


class Clock:
    """A settable clock: ``mono`` for the windows, ``wall`` (epoch seconds) for the daily reset."""

    def __init__(self, wall: float = datetime(2026, 3, 10, 12, tzinfo=ZoneInfo("UTC")).timestamp()) -> None:
        self.mono = 1000.0
        self.wall = wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def limiter(clock: Clock, timezone: str = "UTC", **overrides: object) -> RateLimiter:
    config = replace(SandboxConfig(burst_limit=5, burst_window_s=10.0, daily_limit=100), **overrides)
    return RateLimiter(config, timezone=timezone, clock=lambda: clock.mono, wall_clock=lambda: clock.wall)


def test_burst_allows_exactly_the_limit_then_refuses() -> None:
    clock = Clock()
    rl = limiter(clock)
    remaining = []
    for _ in range(5):
        decision = rl.check(False)
        assert decision.allowed
        remaining.append(decision.headers[H_REMAINING])
        clock.advance(0.01)
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = rl.check(False)
    assert not refused.allowed
    assert refused.policy is RateLimitPolicy.TEN_SECONDLY_ROLLING
    assert refused.headers[H_REMAINING] == "0"
    # the oldest request entered at mono 1000.0 and leaves the window 10 s later
    assert refused.retry_after_s == pytest.approx(1000.0 + 10.0 - clock.mono)


def test_rolling_window_frees_one_slot_per_expired_request() -> None:
    clock = Clock()
    rl = limiter(clock)
    for _ in range(5):
        assert rl.check(False).allowed
        clock.advance(1.0)  # requests at t=0,1,2,3,4; now t=5
    assert not rl.check(False).allowed
    clock.advance(4.999)  # t=9.999: the t=0 request is still inside the window
    assert not rl.check(False).allowed
    clock.advance(0.001)  # t=10: it expired, exactly one slot is free
    decision = rl.check(False)
    assert decision.allowed and decision.headers[H_REMAINING] == "0"
    assert not rl.check(False).allowed
    clock.advance(10.0)
    assert rl.check(False).headers[H_REMAINING] == "4"


def test_refused_requests_take_no_window_slot_but_count_against_the_day() -> None:
    clock = Clock()
    rl = limiter(clock)
    for _ in range(5):
        rl.check(False)
    for _ in range(20):
        assert not rl.check(False).allowed
    assert rl.daily_used == 25
    clock.advance(10.0)
    decision = rl.check(False)
    assert decision.allowed
    assert decision.headers[H_REMAINING] == "4"
    assert decision.headers[H_DAILY_REMAINING] == str(100 - 26)


def test_headers_of_a_standard_request() -> None:
    clock = Clock()
    rl = limiter(clock, burst_limit=190, daily_limit=1_000_000)
    headers = rl.check(False).headers
    assert headers == {
        H_DAILY: "1000000",
        H_DAILY_REMAINING: "999999",
        H_INTERVAL_MS: "10000",
        H_MAX: "190",
        H_REMAINING: "189",
        H_SECONDLY: "19",
        H_SECONDLY_REMAINING: "18",
    }


def test_deprecated_secondly_headers_follow_the_last_second_but_are_not_enforced() -> None:
    clock = Clock()
    rl = limiter(clock, burst_limit=20)  # secondly = 20 / 10 s = 2
    seen = [rl.check(False) for _ in range(4)]
    assert all(d.allowed for d in seen)
    assert [d.headers[H_SECONDLY_REMAINING] for d in seen] == ["1", "0", "0", "0"]
    clock.advance(1.0)
    assert rl.check(False).headers[H_SECONDLY_REMAINING] == "1"


def test_search_has_its_own_per_second_limit_and_only_daily_headers() -> None:
    clock = Clock()
    rl = limiter(clock, search_per_second=5)
    for _ in range(5):
        decision = rl.check(True)
        assert decision.allowed
        assert set(decision.headers) == {H_DAILY, H_DAILY_REMAINING}
    refused = rl.check(True)
    assert not refused.allowed and refused.policy is RateLimitPolicy.SECONDLY
    assert refused.retry_after_s == pytest.approx(1.0)
    # search is exempt from the ten-secondly limit and leaves it untouched
    assert rl.check(False).headers[H_REMAINING] == "4"
    clock.advance(1.0)
    assert rl.check(True).allowed


def test_burst_exempt_requests_pass_a_full_window_and_use_no_slot() -> None:
    clock = Clock()
    rl = limiter(clock)
    for _ in range(5):
        rl.check(False)
    exempt = rl.check(False, burst_exempt=True)
    assert exempt.allowed
    assert exempt.headers[H_REMAINING] == "0"
    assert not rl.check(False).allowed


def test_daily_limit_refuses_everything_until_midnight_in_the_account_time_zone() -> None:
    # 2026-03-10 23:59:00 in New York is 03:59 UTC on the 11th
    wall = datetime(2026, 3, 10, 23, 59, tzinfo=ZoneInfo("America/New_York")).timestamp()
    clock = Clock(wall)
    rl = limiter(clock, timezone="America/New_York", daily_limit=3, burst_limit=100)
    assert [rl.check(False).allowed for _ in range(3)] == [True, True, True]
    refused = rl.check(False)
    assert not refused.allowed and refused.policy is RateLimitPolicy.DAILY
    assert refused.headers[H_DAILY_REMAINING] == "0"
    assert refused.retry_after_s == pytest.approx(60.0)
    assert rl.check(True).policy is RateLimitPolicy.DAILY  # search counts against the day too
    clock.advance(59.0)
    assert not rl.check(False).allowed
    clock.advance(1.0)  # midnight in New York
    decision = rl.check(False)
    assert decision.allowed
    assert decision.headers[H_DAILY_REMAINING] == "2"
    assert datetime.fromtimestamp(rl.daily_reset_at, ZoneInfo("America/New_York")).hour == 0


def test_429_body_names_the_policy_like_hubspot() -> None:
    clock = Clock()
    rl = limiter(clock, search_per_second=1)
    for _ in range(5):
        rl.check(False)
    body = rl.error_for(rl.check(False)).to_json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["groupName"] == "publicapi:private_app-api-calls-ten-secondly:1160452:62515"
    assert body["category"] == "RATE_LIMITS"
    assert len(body["correlationId"]) == 36
    rl.check(True)
    search = rl.error_for(rl.check(True))
    assert search.status == 429
    assert search.message == "You have reached your secondly limit."
    assert search.to_json()["policyName"] == "SECONDLY"
    with pytest.raises(ValueError, match="allowed"):
        rl.error_for(rl.check(False, burst_exempt=True))


def test_configure_and_reset() -> None:
    clock = Clock()
    rl = limiter(clock)
    for _ in range(5):
        rl.check(False)
    rl.configure(burst_limit=7, burst_window_s=2.0)
    decision = rl.check(False)
    assert decision.allowed
    assert decision.headers[H_MAX] == "7" and decision.headers[H_INTERVAL_MS] == "2000"
    assert rl.snapshot()["burstUsed"] == 6
    rl.reset()
    assert rl.snapshot()["burstUsed"] == 0 and rl.daily_used == 0
    with pytest.raises(ValueError, match="positive"):
        rl.configure(daily_limit=0)


def test_many_checks_keep_the_windows_bounded() -> None:
    """O(1) amortized: the windows never hold more than the limit, however many requests come."""
    clock = Clock()
    rl = limiter(clock, burst_limit=190, daily_limit=10**9)
    for i in range(100_000):
        rl.check(i % 10 == 0)
        clock.advance(0.001)
    snapshot = rl.snapshot()
    assert snapshot["burstUsed"] <= 190 and snapshot["searchUsed"] <= 5
