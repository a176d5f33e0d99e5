"""Failed sign-ins are counted per user and address in a sliding window."""

from __future__ import annotations

from hubsync.console.throttle import MAX_KEYS, SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_over_the_limit_a_user_waits_for_the_window_and_others_do_not() -> None:
    clock = Clock()
    throttle = SignInThrottle(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.wait_s("Ada", "10.0.0.1") == 0
        throttle.failed("Ada", "10.0.0.1")
        clock.now += 1
    assert throttle.wait_s("ada", "10.0.0.1") == 57  # case-insensitive; now 1003, the oldest leaves at 1060
    assert throttle.wait_s("ada", "10.0.0.2") == 0 and throttle.wait_s("bob", "10.0.0.1") == 0
    clock.now = 1060.5
    assert throttle.wait_s("ada", "10.0.0.1") == 0  # a sliding window: the first failure is gone


def test_a_success_clears_the_count_and_memory_stays_bounded() -> None:
    throttle = SignInThrottle(max_failures=2, window_s=60, clock=Clock())
    throttle.failed("ada", None)
    throttle.succeeded("ada", None)
    throttle.failed("ada", None)
    assert throttle.wait_s("ada", None) == 0
    for i in range(MAX_KEYS + 10):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert len(throttle._failures) == MAX_KEYS
