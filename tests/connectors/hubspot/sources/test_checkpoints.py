"""The backfill's cursor checkpoints: saved only once every page they cover is acknowledged, every N
pages or seconds and after a phase's last page; nothing saved after a failure
(hubsync.connectors.hubspot.sources.backfill.Checkpoints)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubsync.connectors.hubspot.sources.backfill import Checkpoints
from hubsync.errors import RetriableError


def test_the_cursor_is_saved_every_n_pages_once_they_are_acknowledged_and_after_the_last() -> None:
    async def scenario() -> list[Any]:
        saved: list[Any] = []

        async def save(position: dict[str, Any]) -> None:
            saved.append(position["after"])

        loop = asyncio.get_running_loop()
        checkpoints = Checkpoints(save, every_pages=3, every_s=3600)
        acks = [loop.create_future() for _ in range(7)]
        for page in range(2):
            await checkpoints.add(acks[page], {"after": page}, last=False)
        assert saved == []  # not yet due
        flushing = asyncio.ensure_future(checkpoints.add(acks[2], {"after": 2}, last=False))
        await asyncio.sleep(0)
        assert saved == [] and not flushing.done()  # due, but page 2 is not acknowledged yet
        for ack in acks[:3]:
            ack.set_result(None)
        await flushing
        assert saved == [2]
        for page in range(3, 5):
            acks[page].set_result(None)
            await checkpoints.add(acks[page], {"after": page}, last=page == 4)
        return saved

    assert asyncio.run(scenario()) == [2, 4]


def test_a_failed_publication_saves_nothing_and_abandon_waits_for_the_rest() -> None:
    async def scenario() -> tuple[list[Any], bool]:
        saved: list[Any] = []

        async def save(position: dict[str, Any]) -> None:
            saved.append(position["after"])

        async def fail() -> None:
            raise RetriableError("broker unavailable")

        slow_done = asyncio.Event()

        async def slow() -> None:
            await asyncio.sleep(0.01)
            slow_done.set()

        checkpoints = Checkpoints(save, every_pages=100, every_s=3600)
        await checkpoints.add(asyncio.ensure_future(fail()), {"after": 0}, last=False)
        await checkpoints.add(asyncio.ensure_future(slow()), {"after": 1}, last=False)
        with pytest.raises(RetriableError):
            await checkpoints.flush()
        await checkpoints.abandon()
        return saved, slow_done.is_set()

    assert asyncio.run(scenario()) == ([], True)
