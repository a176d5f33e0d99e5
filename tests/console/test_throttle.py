"""Sign-in attempts are counted per user and address, and per address, in a sliding window."""

from __future__ import annotations

from hubsync.console.throttle import INVALID_USER, MAX_KEYS, SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_over_the_limit_a_user_waits_for_the_window_and_others_do_not() -> None:
    clock = Clock()
    throttle = SignInThrottle(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.attempt("Ada", "10.0.0.1") == 0  # let through, counted until it succeeds
        clock.now += 1
    assert throttle.attempt("ada", "10.0.0.1") == 57  # case-insensitive; now 1003, the oldest leaves at 1060
    assert throttle.wait_s("ada", "10.0.0.2") == 0 and throttle.wait_s("bob", "10.0.0.1") == 0
    clock.now = 1060.5
    assert throttle.wait_s("ada", "10.0.0.1") == 0  # a sliding window: the first attempt is gone


def test_attempts_in_flight_count_before_any_password_is_checked() -> None:
    throttle = SignInThrottle(max_failures=5, window_s=60, clock=Clock())
    let_through = [throttle.attempt("ada", "10.0.0.1") == 0 for _ in range(50)]  # 50 guesses at once
    assert sum(let_through) == 5


def test_a_success_clears_the_users_count_and_one_address_cannot_spray_names() -> None:
    throttle = SignInThrottle(max_failures=2, window_s=60, clock=Clock(), max_per_address=4)
    throttle.attempt("ada", None)
    throttle.succeeded("ada", None)
    throttle.attempt("ada", None)
    assert throttle.wait_s("ada", None) == 0
    for name in ("b", "c", "d"):
        assert throttle.attempt(name, "10.0.0.9") == 0
    assert throttle.attempt("e", "10.0.0.9") == 0
    assert throttle.attempt("f", "10.0.0.9") > 0  # the address's own limit
    assert throttle.attempt("f", "10.0.0.10") == 0


def test_memory_stays_bounded_and_names_no_user_can_have_share_a_key() -> None:
    throttle = SignInThrottle(clock=Clock(), max_per_address=10**9)
    throttle.attempt("x" * 60_000, "10.0.0.1")
    throttle.attempt("not a name", "10.0.0.1")
    assert (INVALID_USER, "10.0.0.1") in throttle._failures
    assert all(len(user) <= 64 for user, _ in throttle._failures)
    for i in range(MAX_KEYS + 10):
        throttle.attempt(f"user{i}", f"10.1.{i // 250}.{i % 250}")
    assert len(throttle._failures) <= MAX_KEYS
