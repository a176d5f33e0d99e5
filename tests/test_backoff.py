"""hubsync's one backoff policy, by table."""

from __future__ import annotations

import random

import pytest

from hubsync.backoff import Backoff, BackoffSchedule


@pytest.mark.parametrize(
    ("base_s", "max_s", "waits"),
    [
        (0.5, 30.0, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
        (1.0, 60.0, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]),
        (0.0, 0.0, [0.0, 0.0, 0.0]),
        (2.0, 2.0, [2.0, 2.0, 2.0]),
    ],
)
def test_exponential_and_capped(base_s: float, max_s: float, waits: list[float]) -> None:
    policy = Backoff(base_s, max_s)
    assert [policy.delay(n) for n in range(1, len(waits) + 1)] == waits
    assert [policy(n) for n in range(1, len(waits) + 1)] == waits  # a callable, attempt -> seconds


def test_huge_attempts_stay_at_the_cap() -> None:
    assert Backoff(0.5, 30.0).delay(10_000) == 30.0


def test_full_jitter_draws_within_the_cap() -> None:
    policy = Backoff(1.0, 8.0, jitter=True)
    rng = random.Random(7)
    for attempt in range(1, 10):
        draws = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= policy.cap(attempt) for d in draws)
        assert len(set(draws)) > 100  # really drawn, not the cap every time


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    policy = Backoff(0.5, 30.0, jitter=True)
    first = [policy.delay(n, random.Random(3)) for n in range(1, 6)]
    assert first == [policy.delay(n, random.Random(3)) for n in range(1, 6)]


@pytest.mark.parametrize(("base_s", "max_s"), [(-1.0, 1.0), (2.0, 1.0)])
def test_invalid_policies_are_refused(base_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s, max_s)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0)


def test_schedule_walks_the_policy_and_starts_over_after_a_reset() -> None:
    schedule = BackoffSchedule(Backoff(1.0, 4.0))
    assert [schedule.next() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    schedule.reset()
    assert schedule.next() == 1.0
