"""Two publishers of one record's canonical state: the last message of its key is the newest state.

Two ingest processors (two workers, or two consumers of one) each apply a batch linking a new contact
to the same company. The first reads the company's canonical record (one contact) and is held just
before it publishes; the second commits its link meanwhile. Without the portal's canonical lock the
second would read and publish the company with both contacts, then the first its older read, and the
compacted ``crm.accounts`` would keep a company with one contact until it changed again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from hubsync.errors import RetriableError
from hubsync.ingest.agents import ingest_processor
from hubsync.ingest.apply import BatchResult
from hubsync.ingest.processor import IngestProcessor
from hubsync.records.kinds import ObjectKind
from hubsync.storage.canonical import lock_canonical
from hubsync.storage.pool import PoolConfig, open_pool
from hubsync.streams.producer import EncodedMessage, SinkConfig
from hubsync.testing import FakeKafkaRecord
from tests.ingest.events_factory import snapshot
from tests.ingest.worker_harness import TopicDrain, change_event_codec, prepare_worker, scalar

pytestmark = pytest.mark.integration

COMPANY = "9001"


def _batch(topic: str, contact_id: str, email: str, at: int) -> list[FakeKafkaRecord]:
    codec, schema = change_event_codec()
    value = snapshot(
        contact_id, {"email": email, "firstname": "A", "lastname": contact_id}, at=at, companies=[COMPANY]
    )
    return [
        FakeKafkaRecord(codec.encode(topic, schema, value), topic=topic, offset=0, key=contact_id.encode())
    ]


def _hold_after_read(processor: IngestProcessor, read: threading.Event, go: threading.Event) -> None:
    """Make ``processor`` stop between its canonical read and its publish until ``go`` is set."""
    encode = processor._encode_canonical

    def held(canonical: Sequence[tuple[ObjectKind, tuple[Any, ...]]]) -> dict[str, list[EncodedMessage]]:
        read.set()
        assert go.wait(60), "the test never let the first batch go on"
        return encode(canonical)

    processor._encode_canonical = held  # type: ignore[method-assign]


def test_a_slower_publisher_never_leaves_an_older_canonical_record_last(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    topic = setup.topics.hubspot_contacts
    first_read, let_first_go = threading.Event(), threading.Event()

    async def run() -> bool:
        codec, _ = change_event_codec()
        async with (
            ingest_processor(setup.settings, codec) as first,
            ingest_processor(setup.settings, codec) as second,
        ):
            _hold_after_read(first, first_read, let_first_go)
            loop = asyncio.get_running_loop()
            one = asyncio.create_task(first.process(_batch(topic, "1", "one@acme.com", 1_000)))
            assert await loop.run_in_executor(None, first_read.wait, 60)
            two = asyncio.create_task(second.process(_batch(topic, "2", "two@acme.com", 2_000)))
            # the second batch commits its link, then waits for the first's lock to publish
            done, _ = await asyncio.wait({two}, timeout=3.0)
            second_waited = not done
            let_first_go.set()
            await asyncio.wait_for(asyncio.gather(one, two), 60)
            return second_waited

    second_waited = asyncio.run(run())
    assert second_waited, "the second batch published while the first held its canonical read"

    company = scalar(setup.database_url, "SELECT id FROM hubsync.accounts WHERE hubspot_id = %s", (COMPANY,))
    contacts = sorted(
        int(scalar(setup.database_url, "SELECT id FROM hubsync.contacts WHERE hubspot_id = %s", (h,)))
        for h in ("1", "2")
    )
    codec, _ = change_event_codec()
    schema = codec.repository.current("crm_account")
    crm = setup.topics.crm_accounts
    with TopicDrain(setup.bootstrap, crm, setup.partitions) as drain:
        mine = [m for m in drain.drain() if m.key() == str(company).encode()]
    published = [codec.decode(crm, schema, m.value())["contact_ids"] for m in mine]
    assert len(published) == 2, published
    assert published[-1] == contacts, f"the last crm.accounts message of the company: {published}"


def test_a_publish_that_never_runs_gives_up_retriably_and_releases_the_lock(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """A batch's thread waits for the event loop to publish its canonical records; if that loop no
    longer runs (a stopping process), it gives up after the delivery timeout and a margin, with a
    retriable error, and its transaction ends, so the portal's lock goes to the next publisher."""
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)

    async def make() -> IngestProcessor:
        codec, _ = change_event_codec()
        async with ingest_processor(setup.settings, codec) as processor:
            return processor

    processor = asyncio.run(make())  # closed: only its pool is reopened below
    processor.pool = open_pool(setup.database_url, PoolConfig(min_size=1, max_size=2), name="test")
    processor.publisher = _SlowPublisher()  # type: ignore[assignment]
    processor.publish_margin_s = 0.2
    stopped = asyncio.new_event_loop()  # never run: nothing will ever publish
    try:
        results: dict[int | None, BatchResult] = {
            None: BatchResult(touched={"contact": {1}, "account": set()})
        }
        with pytest.raises(RetriableError, match="not published in time"):
            processor._publish_canonical_in_order(results, stopped)
        with psycopg.connect(setup.database_url) as conn:
            conn.execute("SET lock_timeout = '2s'")
            lock_canonical(conn)  # LockNotAvailable if the thread's transaction still held it
    finally:
        stopped.run_until_complete(asyncio.sleep(0.05))  # the publish given up on ends, cancelled
        stopped.close()
        processor.pool.close()


class _SlowPublisher:
    config = SinkConfig(delivery_timeout_s=0.1)
