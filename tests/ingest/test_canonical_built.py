"""Canonical contacts built from what a batch wrote, not read back (``IngestProcessor._apply_all``).

A batch of one portal that inserted contacts takes the portal's canonical lock for its session
before it commits, if it is free, and publishes those contacts' canonical records as it wrote them.
These tests hold the built records to a read of the same contacts (every value, in order), show
which contacts are read instead, that the lock is never waited for inside the batch's transaction
and never left behind, and that a newer state committed meanwhile is published after the built one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from hubsync.errors import RetriableError
from hubsync.ingest import processor as processor_module
from hubsync.ingest.agents import ingest_processor
from hubsync.ingest.apply import BatchResult
from hubsync.ingest.processor import IngestProcessor
from hubsync.ingest.statistics import StatisticsKeeper
from hubsync.storage.canonical import canonical_contact_values, lock_canonical
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.streams.producer import SinkConfig
from hubsync.testing import FakeKafkaRecord
from tests.ingest.events_factory import property_change, snapshot
from tests.ingest.worker_harness import TopicDrain, WorkerSetup, change_event_codec, prepare_worker, query

pytestmark = pytest.mark.integration

_LOCK_ID = "SELECT hashtextextended('hubsync.canonical:' || hubsync.current_portal()::text, 0)"


def _records(topic: str, values: Sequence[dict[str, Any]]) -> list[FakeKafkaRecord]:
    codec, schema = change_event_codec()
    return [
        FakeKafkaRecord(
            codec.encode(topic, schema, value), topic=topic, offset=i, key=value["object_id"].encode()
        )
        for i, value in enumerate(values)
    ]


@contextmanager
def _spy_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """Every canonical contact the processor builds instead of reading."""
    built: list[tuple[Any, ...]] = []
    real = processor_module.fresh_canonical

    def spy(result: BatchResult, updated_at: int) -> list[tuple[Any, ...]]:
        out = real(result, updated_at)
        built.extend(out)
        return out

    monkeypatch.setattr(processor_module, "fresh_canonical", spy)
    yield built


def _read(database_url: str, hubspot_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM hubsync.contacts WHERE hubspot_id = ANY(%s)", (list(hubspot_ids),)
            )
        ]
        return {values[1]: values for values in canonical_contact_values(conn, ids)}


def _comparable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values with ``properties`` as its items in order (dicts compare without order)."""
    return tuple(list(v.items()) if isinstance(v, dict) else v for v in values)


def _process(setup: WorkerSetup, batches: Sequence[list[FakeKafkaRecord]]) -> None:
    async def run() -> None:
        codec, _ = change_event_codec()
        async with ingest_processor(setup.settings, codec) as processor:
            for batch in batches:
                await processor.process(batch)

    asyncio.run(run())


def test_built_canonical_contacts_are_their_read_back_value_for_value(
    kafka_bootstrap_servers: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    topic = setup.topics.hubspot_contacts
    events = [
        # additional addresses in an order that is neither the given one nor a locale's; property
        # names of mixed lengths and bytes (jsonb orders them: shorter first, then bytewise)
        snapshot(
            "1",
            {
                "email": "Ann@Example.com",
                "hs_additional_emails": "zed@example.com;b-c@example.com;B.a@example.com;\u00e4@example.com",
                "firstname": "Ann",
                "lastname": "\u00d6lund",
                "company": "Example GmbH",
                "zz": "",
                "\u00fcber": "x",
                "a": "1",
                "jobtitle": None,
            },
            at=1_700_000_000_123,
        ),
        snapshot("2", {"firstname": "Bo", "lastname": "Lee"}, at=1_700_000_000_456),  # no address
        snapshot("3", {"email": "twin@acme.com", "firstname": "T"}, at=1_700_000_001_000),
        snapshot("4", {"email": "twin@acme.com", "firstname": "U"}, at=1_700_000_001_001),  # 3's pair
        snapshot("5", {"email": "linked@acme.com"}, at=1_700_000_002_000, companies=["77"]),
        snapshot("6", {"email": "gone@acme.com"}, at=1_700_000_003_000, archived=True),
    ]
    with _spy_built(monkeypatch) as built:
        _process(setup, [_records(topic, events)])

    read = _read(setup.database_url, ["1", "2", "3", "4", "5", "6"])
    assert sorted(v[1] for v in built) == ["1", "2"], "paired, linked and deleted contacts are read"
    for values in built:
        assert _comparable(values) == _comparable(read[values[1]])
    assert read["1"][5] == ["b-c@example.com", "b.a@example.com", "zed@example.com", "\u00e4@example.com"]

    codec, _ = change_event_codec()
    schema = codec.repository.current("crm_contact")
    crm = setup.topics.crm_contacts
    with TopicDrain(setup.bootstrap, crm, setup.partitions) as drain:
        published = [codec.decode(crm, schema, m.value()) for m in drain.drain()]
    assert sorted(p["hubspot_id"] for p in published) == ["1", "2", "3", "4", "5", "6"]
    first = next(p for p in published if p["hubspot_id"] == "1")
    assert list(first["properties"]) == list(read["1"][8])


def test_a_batch_that_finds_the_lock_taken_builds_nothing_and_waits_for_it_after_its_commit(
    kafka_bootstrap_servers: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another session holds the portal's canonical lock (a publisher waiting for Kafka): the batch
    does not wait for it inside its transaction, commits, then reads under the lock once it is free."""
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    topic = setup.topics.hubspot_contacts
    with psycopg.connect(setup.database_url, autocommit=True) as holder, _spy_built(monkeypatch) as built:
        lock_id = holder.execute(_LOCK_ID).fetchone()[0]  # type: ignore[index]
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_id,))

        async def run() -> tuple[bool, int]:
            codec, _ = change_event_codec()
            async with ingest_processor(setup.settings, codec) as processor:
                task = asyncio.create_task(
                    processor.process(_records(topic, [snapshot("1", {"email": "a@acme.com"}, at=1_000)]))
                )
                done, _ = await asyncio.wait({task}, timeout=2.0)
                committed = len(_read(setup.database_url, ["1"]))
                holder.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
                report = await asyncio.wait_for(task, 60)
                assert report.canonical_published == 1
                return not done, committed

        waited, committed = asyncio.run(run())
    assert waited, "the batch published while another session held the portal's canonical lock"
    assert committed == 1, "the batch waited for the lock before it committed"
    assert built == []


def test_the_session_lock_is_released_when_the_publish_fails(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """The batch built its records under the session lock, committed, and its publish never ran: it
    gives up retriably and the lock is free for the next publisher."""
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    topic = setup.topics.hubspot_contacts

    async def make() -> IngestProcessor:
        codec, _ = change_event_codec()
        async with ingest_processor(setup.settings, codec) as processor:
            return processor

    processor = asyncio.run(make())  # closed: only its pool is reopened below
    processor.pool = open_pool(setup.database_url, PoolConfig(min_size=1, max_size=2), name="test")
    processor.statistics = StatisticsKeeper(processor.pool)
    processor.publisher = _SlowPublisher()  # type: ignore[assignment]
    processor.publish_margin_s = 0.2
    stopped = asyncio.new_event_loop()  # never run: nothing will ever publish
    try:
        events, dead = processor.decode(_records(topic, [snapshot("1", {"email": "a@acme.com"}, at=1_000)]))
        assert not dead
        with pytest.raises(RetriableError, match="not published in time"):
            processor._commit_and_publish(events, stopped)
        assert len(_read(setup.database_url, ["1"])) == 1  # committed
        with psycopg.connect(setup.database_url) as conn:
            conn.execute("SET lock_timeout = '2s'")
            lock_canonical(conn)  # LockNotAvailable if the pool's session still held it
    finally:
        stopped.run_until_complete(asyncio.sleep(0.05))
        stopped.close()
        processor.pool.close()


def test_a_newer_state_committed_while_a_built_record_waits_for_kafka_is_published_after_it(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """The first batch inserts contact 1 and builds its canonical record; held right after its commit,
    before it publishes, a second batch changes contact 1 and commits. The second must publish after the first (it
    reads the newer state under the lock the first holds since before its commit), so the last
    ``crm.contacts`` message of contact 1 is the newer state."""
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    topic = setup.topics.hubspot_contacts
    first_committed, let_first_go = threading.Event(), threading.Event()

    async def run() -> bool:
        codec, _ = change_event_codec()
        async with (
            ingest_processor(setup.settings, codec) as first,
            ingest_processor(setup.settings, codec) as second,
        ):
            note = first.statistics.note

            def held(created: int) -> None:  # right after the first batch's commit
                note(created)
                first_committed.set()
                assert let_first_go.wait(60), "the test never let the first batch go on"

            first.statistics.note = held  # type: ignore[method-assign]
            loop = asyncio.get_running_loop()
            one = asyncio.create_task(
                first.process(
                    _records(topic, [snapshot("1", {"email": "a@acme.com", "lastname": "Old"}, at=1_000)])
                )
            )
            assert await loop.run_in_executor(None, first_committed.wait, 60)
            change = property_change("1", "lastname", "New", at=2_000)
            two = asyncio.create_task(second.process(_records(topic, [change])))
            done, _ = await asyncio.wait({two}, timeout=3.0)
            second_waited = not done
            let_first_go.set()
            await asyncio.wait_for(asyncio.gather(one, two), 60)
            return second_waited

    second_waited = asyncio.run(run())
    assert second_waited, "the second batch published while the first held the lock for its built record"
    assert query(setup.database_url, "SELECT last_name FROM hubsync.contacts WHERE hubspot_id = '1'") == [
        ("New",)
    ]
    codec, _ = change_event_codec()
    schema = codec.repository.current("crm_contact")
    crm = setup.topics.crm_contacts
    with TopicDrain(setup.bootstrap, crm, setup.partitions) as drain:
        names = [codec.decode(crm, schema, m.value())["last_name"] for m in drain.drain()]
    assert names == ["Old", "New"]


class _SlowPublisher:
    config = SinkConfig(delivery_timeout_s=0.1)
