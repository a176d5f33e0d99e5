"""The ingest lanes' librdkafka batch loop against a real broker: offsets committed only after a
batch's processing returned, a new group carried over from the Faust group's offsets, a batch whose
partitions were lost meanwhile left uncommitted, and readiness once the group is joined."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.batch_consumer import BatchConsumerConfig, KafkaBatchConsumer, run_batches
from hubsync.streams.connection import as_connection
from hubsync.streams.topics import TopicSpec
from tests.ingest.worker_harness import committed_offsets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PER_PARTITION = 25


def _topic(bootstrap: str) -> str:
    """A two-partition topic holding messages 0..49, ``i`` in partition ``i % 2``."""
    topic = f"batches.{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(
        "test", topic, "dead_letter", "test", compacted=False, partitions=2, replication_factor=1
    )
    ensure_topics(admin_client(bootstrap), [spec])
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(2 * PER_PARTITION):
        producer.produce(topic, key=str(i).encode(), value=str(i).encode(), partition=i % 2)
    assert producer.flush(20) == 0
    return topic


def _consumer(
    bootstrap: str, topic: str, group: str, *, seed: str | None = None, max_poll_interval_s: float = 60.0
) -> KafkaBatchConsumer:
    config = BatchConsumerConfig(
        group=group,
        topics=(topic,),
        batch_max=10,
        batch_wait_s=0.2,
        seed_group=seed,
        session_timeout_s=6.0,
        heartbeat_interval_s=1.0,
        max_poll_interval_s=max_poll_interval_s,
    )
    return KafkaBatchConsumer(as_connection(bootstrap), config, client_id="test")


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    return committed_offsets(bootstrap, group, topic, partitions=2)


def _consume_all(consumer: KafkaBatchConsumer, *, expect: int, fail_batch: int | None = None) -> list[int]:
    """Run the loop until ``expect`` values were processed (or the batch numbered ``fail_batch``
    raised); the values processed, in order."""
    seen: list[int] = []
    batches = 0

    async def main() -> None:
        stopping = asyncio.Event()

        async def process(messages: Sequence[Message]) -> None:
            nonlocal batches
            batches += 1
            if batches == fail_batch:
                raise RuntimeError("the batch failed")
            seen.extend(int(m.value() or b"") for m in messages)
            if len(seen) >= expect:
                stopping.set()

        await asyncio.wait_for(run_batches(consumer, process, stopping), 60)

    failing = (
        pytest.raises(RuntimeError, match="the batch failed") if fail_batch else contextlib.nullcontext()
    )
    try:
        with failing:
            asyncio.run(main())
    finally:
        consumer.close()
    return seen


def test_a_batch_is_committed_after_it_was_processed_and_a_failed_one_is_redelivered(
    kafka_bootstrap_servers: str,
) -> None:
    bootstrap = kafka_bootstrap_servers
    topic, group = _topic(bootstrap), f"g.{uuid.uuid4().hex[:8]}"

    first = _consume_all(_consumer(bootstrap, topic, group), expect=50, fail_batch=2)
    committed = _committed(bootstrap, group, topic)
    # the first batch only: its partitions' offsets, none for what the failed batch held
    assert sum(max(0, c) for c in committed.values()) == len(first) == 10

    rest = _consume_all(_consumer(bootstrap, topic, group), expect=40)
    assert sorted(first + rest) == list(range(50))  # the failed batch came again; nothing twice
    assert _committed(bootstrap, group, topic) == {0: PER_PARTITION, 1: PER_PARTITION}


def test_a_new_group_starts_where_the_seed_group_committed_and_owns_that_offset_at_once(
    kafka_bootstrap_servers: str,
) -> None:
    bootstrap = kafka_bootstrap_servers
    topic = _topic(bootstrap)
    faust_group, group = f"faust.{uuid.uuid4().hex[:8]}", f"g.{uuid.uuid4().hex[:8]}"
    old = Consumer({"bootstrap.servers": bootstrap, "group.id": faust_group, "enable.auto.commit": False})
    old.commit(offsets=[TopicPartition(topic, 0, 20)], asynchronous=False)  # partition 1: nothing
    old.close()

    consumer = _consumer(bootstrap, topic, group, seed=faust_group)
    consumer.subscribe()
    batch: list[Message] = []
    while not batch:
        batch = consumer.poll_batch()
    assert all(m.offset() or 0 >= 20 for m in batch if m.partition() == 0)
    # carried over as soon as the partitions were assigned, before any batch was committed
    assert _committed(bootstrap, group, topic)[0] == 20
    consumer.close()

    seen = _consume_all(_consumer(bootstrap, topic, group, seed=faust_group), expect=30)
    # partition 0 from offset 20 (values 40, 42, ... 48), partition 1 from its beginning
    assert sorted(seen) == sorted([v for v in range(50) if v % 2] + [40, 42, 44, 46, 48])


def test_a_batch_held_past_the_poll_interval_is_not_committed_and_the_loop_rejoins(
    kafka_bootstrap_servers: str,
) -> None:
    bootstrap = kafka_bootstrap_servers
    topic, group = _topic(bootstrap), f"g.{uuid.uuid4().hex[:8]}"
    holder = _consumer(bootstrap, topic, group, max_poll_interval_s=6.0)
    with pytest.raises(RuntimeError, match="has not joined"):
        holder.ready()
    holder.subscribe()
    batch: list[Message] = []
    while not batch:
        batch = holder.poll_batch()
    assert holder.ready() == "2 partition(s) assigned"

    time.sleep(8)  # applying the batch took longer than max.poll.interval.ms: the member left the group
    assert holder.commit(batch) is False
    assert _committed(bootstrap, group, topic) == {0: -1001, 1: -1001}

    again: list[Message] = []  # the next poll rejoins, and the uncommitted batch comes again
    deadline = time.monotonic() + 30
    while len(again) < 50 and time.monotonic() < deadline:
        again.extend(holder.poll_batch())
    assert {(m.partition(), m.offset()) for m in batch} <= {(m.partition(), m.offset()) for m in again}
    assert holder.commit(again) is True
    assert _committed(bootstrap, group, topic) == {0: PER_PARTITION, 1: PER_PARTITION}
    holder.close()
    with pytest.raises(RuntimeError, match="closed"):
        holder.ready()


def test_an_assignment_served_by_close_is_taken_without_seeding_it(kafka_bootstrap_servers: str) -> None:
    """librdkafka may serve a rebalance inside ``close()`` (another member of the group left or joined
    meanwhile). The consumer reads nothing more, so it takes the assignment as it is: asking the
    closing consumer for committed offsets, to seed them, blocked the worker's stop for 30 s."""
    consumer = _consumer(kafka_bootstrap_servers, "unused", f"g.{uuid.uuid4().hex[:8]}", seed="older")
    consumer.close()
    partitions = [TopicPartition("unused", 0)]

    class Closing:
        assigned: list[TopicPartition] = []

        def assign(self, partitions: list[TopicPartition]) -> None:
            self.assigned = partitions

        def committed(self, *_args: object, **_kw: object) -> object:
            raise AssertionError("a closing consumer was asked for its committed offsets")

    closing = Closing()
    consumer._on_assign(closing, partitions)  # type: ignore[arg-type]
    assert closing.assigned == partitions
    assert consumer.assignment() == frozenset()  # not taken for a live assignment either
