"""The ingest benchmark's steady rate (bench/_rates.py): unbiased whatever the batch size."""

from __future__ import annotations

import pytest
from bench._rates import steady_rate, steady_window


def _progress(
    rate: float, consumers: int, batch: int, total: int, poll_s: float, skew: float = 0.0
) -> list[tuple[float, int]]:
    """Polled counts of ``consumers`` that start together, each with ``total / consumers`` events
    it applies at ``rate / consumers`` events/s in batches of ``batch`` (the last one shorter),
    counted when a batch commits; with ``skew``, consumer ``i`` is ``1 + i x skew`` times as fast
    as the first (they drift apart), ``rate`` their sum."""
    speeds = [1 + i * skew for i in range(consumers)]
    speeds = [rate * s / sum(speeds) for s in speeds]
    per_consumer = total // consumers
    commits: list[tuple[float, int]] = []
    for speed in speeds:
        done, t = 0, 0.0
        while done < per_consumer:
            size = min(batch, per_consumer - done)
            t += size / speed
            done += size
            commits.append((t, size))
    samples: list[tuple[float, int]] = []
    t = 0.0
    while True:
        done = sum(size for at, size in commits if at <= t)
        samples.append((t, done))
        if done >= consumers * per_consumer:
            return samples
        t += poll_s


@pytest.mark.parametrize("batch", [2_000, 4_000, 6_000])
def test_the_steady_rate_is_the_true_rate_whatever_the_batch(batch: int) -> None:
    in_step = _progress(10_000.0, 3, batch, 99_000, 0.05)
    apart = _progress(10_000.0, 3, batch, 99_000, 0.05, skew=0.07)

    assert steady_rate(in_step, 99_000) == pytest.approx(10_000.0, rel=0.01)
    # consumers drifting apart: each end is just after some consumer's commit, whichever
    assert steady_rate(apart, 99_000) == pytest.approx(10_000.0, rel=0.04)


def test_the_window_runs_from_the_first_sample_at_ten_percent_to_the_first_at_ninety() -> None:
    samples = [(0.0, 0), (1.0, 5), (2.0, 10), (3.0, 50), (4.0, 90), (5.0, 95), (6.0, 100)]

    assert steady_window(samples, 100) == [(2.0, 10), (3.0, 50), (4.0, 90)]
    assert steady_rate(samples, 100) == pytest.approx(40.0)  # (90 - 10) / (4 - 2)


def test_two_samples_give_the_rate_between_them() -> None:
    assert steady_rate([(1.0, 10), (3.0, 90)], 100) == pytest.approx(40.0)


def test_samples_that_never_reach_the_window_are_refused() -> None:
    with pytest.raises(ValueError, match="never reach"):
        steady_rate([(0.0, 0), (1.0, 50)], 100)
    with pytest.raises(ValueError, match="no duration"):
        steady_rate([(1.0, 95)], 100)
