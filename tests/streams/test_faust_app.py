"""The agents' batch loop: a batch is acknowledged only after it was processed, and a batch that fails
with an error no retry fixes stops the process (so it is redelivered) instead of being skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from hubsync._runtime.shutdown import EXIT_AGENT_FAILED
from hubsync.streams import faust_app
from hubsync.streams.faust_app import consume_batches


@dataclass
class _Event:
    message: Any


@dataclass
class _Stream:
    batches: list[list[_Event]]
    acked: list[_Event] = field(default_factory=list)

    async def noack_take(self, size: int, within: float) -> AsyncIterator[list[_Event]]:
        for batch in self.batches:
            yield batch

    async def ack(self, event: _Event) -> None:
        self.acked.append(event)


class _StoppedError(Exception):
    pass


def test_batches_are_acknowledged_after_they_are_processed() -> None:
    stream = _Stream([[_Event(1), _Event(2)], [_Event(3)]])
    seen: list[int] = []
    acked_when_processed: list[list[int]] = []

    async def process(batch: Sequence[Any]) -> None:
        seen.extend(r._message for r in batch)
        acked_when_processed.append([e.message for e in stream.acked])

    asyncio.run(consume_batches(stream, 10, 0.1, process))
    assert [e.message for e in stream.acked] == seen == [1, 2, 3]
    assert acked_when_processed == [[], [1, 2]]  # a batch is acknowledged after it was processed


def test_a_batch_failing_with_an_unexpected_error_stops_the_process_unacknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codes: list[int] = []

    def stop(code: int) -> None:
        codes.append(code)
        raise _StoppedError

    monkeypatch.setattr(faust_app, "stop_process", stop)
    stream = _Stream([[_Event(1)], [_Event(2)]])

    async def process(batch: Sequence[Any]) -> None:
        raise ValueError("a bug")

    with pytest.raises(_StoppedError):
        asyncio.run(consume_batches(stream, 10, 0.1, process))
    assert codes == [EXIT_AGENT_FAILED] and stream.acked == []
