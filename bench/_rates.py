"""A loader's steady rate from samples of its progress, measured the same way for both loaders.

A loader's progress, seen from outside, is the count of events it has committed: a step function
that rises by a whole batch at each commit. A rate taken from the first commit to the last counts
the events of the batches in flight at that first commit (every consumer starts its first batch at
once, so up to one batch a consumer) without the time they took before it, which overstates the rate
by up to ``(consumers - 1) x batch / events``: ~4% for three consumers' batches of 2,000 in 100,000
events, ~12% for batches of 6,000, so larger batches would look faster than they are.

:func:`steady_rate` takes the rate between two samples instead: the first that shows 10% of the
events done and the first that shows 90%. Each is taken just after a commit (within a poll), with the
other consumers' batches at any point of their work, so the work in flight is alike at both ends in
expectation and neither end is favoured. The start (group join, first plans) and the tail (the
consumers finishing one by one) are outside it, for both loaders alike.
"""

from __future__ import annotations

from collections.abc import Sequence

#: the part of the run the steady rate is taken over, as fractions of the events
LOW, HIGH = 0.1, 0.9


def window_thresholds(total: int, low: float = LOW, high: float = HIGH) -> tuple[float, float]:
    """The events done that open and close the steady window: the first sample with at least the
    one, then the first with at least the other (whoever samples something else at those ends, CPU
    say, uses these, so both windows are one)."""
    return low * total, high * total


def steady_window(
    samples: Sequence[tuple[float, int]], total: int, low: float = LOW, high: float = HIGH
) -> list[tuple[float, int]]:
    """The samples ``(time, events done)`` from the first with ``low`` of ``total`` done to the
    first with ``high`` done, both included (samples in time order)."""
    opens, closes = window_thresholds(total, low, high)
    start = next((i for i, (_, done) in enumerate(samples) if done >= opens), None)
    end = next((i for i, (_, done) in enumerate(samples) if done >= closes), None)
    if start is None or end is None:
        raise ValueError(f"the samples never reach {low:.0%} and {high:.0%} of {total} events")
    return list(samples[start : end + 1])


def steady_rate(
    samples: Sequence[tuple[float, int]], total: int, low: float = LOW, high: float = HIGH
) -> float:
    """Events per second between the two ends of :func:`steady_window`."""
    window = steady_window(samples, total, low, high)
    (t0, c0), (t1, c1) = window[0], window[-1]
    if t1 <= t0:
        raise ValueError("the steady window has no duration")
    return (c1 - c0) / (t1 - t0)
