"""``AsyncKafkaPublisher`` against a real Apache Kafka broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import NewTopic

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.errors import RetriableError
from hubsync.streams.admin import admin_client
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage, OutgoingMessage, SinkConfig
from hubsync.testing import wait_for

pytestmark = pytest.mark.integration
PARTITIONS = 3


def new_topic(bootstrap: str) -> str:
    name = f"test.async.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)
    for future in admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)]
    ).values():
        future.result()
    wait_for(
        lambda: name in admin.list_topics(timeout=5).topics,
        timeout=10,
        interval=0.05,
        what=f"{name} to appear in the metadata",
    )
    return name


def consume_messages(bootstrap: str, topic: str, expected: int) -> list[Message]:
    """The first ``expected`` messages of ``topic``, from its beginning."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    found: list[Message] = []

    def enough() -> bool:
        message: Message | None = consumer.poll(0.2)
        if message is not None and message.error() is None:
            found.append(message)
        return len(found) >= expected

    try:
        wait_for(
            enough,
            timeout=20,
            interval=0,
            what=lambda: f"{expected} messages on {topic} ({len(found)} so far)",
        )
    finally:
        consumer.close()
    return found


def consume_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    return [(m.key(), m.value()) for m in consume_messages(bootstrap, topic, expected)]


def test_concurrent_batches_are_acknowledged_without_blocking_the_loop(kafka_bootstrap_servers: str) -> None:
    topic = new_topic(kafka_bootstrap_servers)

    async def scenario() -> list[tuple[int, int]]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:  # counts the loop's turns: it only turns when nothing blocks it
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0)
                ticks += 1

        async def publish(batch: list[EncodedMessage]) -> tuple[int, int]:
            """The batch's count, and how often the loop turned while it was in flight."""
            before = ticks
            count = await publisher.publish(topic, batch, timeout_s=20)
            return count, ticks - before

        async with AsyncKafkaPublisher(kafka_bootstrap_servers) as publisher:
            tick = asyncio.create_task(ticker())
            batches = [
                [EncodedMessage(f"k{b}-{i}".encode(), f"v{b}-{i}".encode()) for i in range(100)]
                for b in range(10)
            ]
            results = await asyncio.gather(*(publish(batch) for batch in batches))
            stop.set()
            await tick
        return results

    results = asyncio.run(scenario())
    assert [count for count, _ in results] == [100] * 10
    # a publish that blocked the loop until its acknowledgements would let no other task run
    assert all(turns > 0 for _, turns in results), results
    found = consume_all(kafka_bootstrap_servers, topic, 1000)
    assert sorted(found) == sorted(
        (f"k{b}-{i}".encode(), f"v{b}-{i}".encode()) for b in range(10) for i in range(100)
    )


def test_publish_records_encodes_with_the_codec(kafka_bootstrap_servers: str) -> None:
    topic = new_topic(kafka_bootstrap_servers)
    repo = SchemaRepository()
    codec = SingleObjectCodec(repo)
    schema = repo.current("hubspot_change_event")
    value = {
        "event_id": "e1",
        "object_type": "CONTACT",
        "object_id": "7",
        "change_type": "CREATION",
        "source": "WEBHOOK",
        "occurred_at": 1,
        "received_at": 2,
    }

    async def scenario() -> int:
        async with AsyncKafkaPublisher(kafka_bootstrap_servers, codec) as publisher:
            return await publisher.publish_records(topic, schema, [OutgoingMessage("7", value, {"h": "x"})])

    assert asyncio.run(scenario()) == 1
    [(key, raw)] = consume_all(kafka_bootstrap_servers, topic, 1)
    assert key == b"7"
    decoded = codec.decode(topic, schema, raw)
    assert decoded["event_id"] == "e1" and decoded["object_id"] == "7"


def test_unreachable_broker_times_out_as_retriable() -> None:
    async def scenario() -> float:
        publisher = AsyncKafkaPublisher("127.0.0.1:1")
        await publisher.start()
        started = time.monotonic()
        try:
            with pytest.raises(RetriableError, match=r"not acknowledged in 0\.5 s"):
                await publisher.publish("t", [EncodedMessage(b"k", b"v")], timeout_s=0.5)
            return time.monotonic() - started
        finally:
            await publisher.close(timeout_s=0.2)

    # the given timeout applied, not the publisher's default delivery timeout
    assert asyncio.run(scenario()) < SinkConfig().delivery_timeout_s


def test_publish_needs_start() -> None:
    async def scenario() -> None:
        publisher = AsyncKafkaPublisher("127.0.0.1:1")
        with pytest.raises(RuntimeError, match="not started"):
            await publisher.publish("t", [EncodedMessage(b"k", b"v")])
        await publisher.start()
        try:
            assert await publisher.publish("t", []) == 0
        finally:
            await publisher.close(timeout_s=0.2)

    asyncio.run(scenario())


class CountingProducer:
    """The publisher's confluent-kafka producer, counting how it is asked to queue messages."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def produce_batch(self, *args: Any, **kwargs: Any) -> int:
        self.calls["produce_batch"] += 1
        return int(self.inner.produce_batch(*args, **kwargs))

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self.calls["produce"] += 1
        self.inner.produce(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counted(publisher: AsyncKafkaPublisher) -> CountingProducer:
    counting = CountingProducer(publisher._producer)
    publisher._producer = counting  # type: ignore[assignment]
    return counting


def test_a_batch_the_producer_queue_cannot_hold_is_sent_whole(kafka_bootstrap_servers: str) -> None:
    """Messages without headers are queued in one call (``produce_batch``); the ones a full queue
    refused (900 of 1,000 with room for 100) are produced one by one as the queue drains."""
    topic = new_topic(kafka_bootstrap_servers)
    batch = [EncodedMessage(f"k{i}".encode(), f"v{i}".encode()) for i in range(1_000)]
    small_queue = SinkConfig(linger_ms=2, extra={"queue.buffering.max.messages": 100})

    async def scenario() -> tuple[int, Counter[str]]:
        publisher = AsyncKafkaPublisher(kafka_bootstrap_servers, config=small_queue)
        calls = counted(publisher)
        async with publisher:
            return await publisher.publish(topic, batch, timeout_s=20), calls.calls

    sent, calls = asyncio.run(scenario())
    assert sent == 1_000
    assert calls["produce_batch"] == 1
    assert calls["produce"] >= 900  # the refused ones, each retried until the queue takes it
    found = consume_all(kafka_bootstrap_servers, topic, 1_000)
    assert sorted(found) == sorted((m.key, m.value) for m in batch if m.key is not None)


def test_a_batch_without_headers_is_queued_in_one_call(kafka_bootstrap_servers: str) -> None:
    topic = new_topic(kafka_bootstrap_servers)
    batch = [EncodedMessage(f"k{i}".encode(), f"v{i}".encode()) for i in range(50)]

    async def scenario() -> Counter[str]:
        publisher = AsyncKafkaPublisher(kafka_bootstrap_servers)
        calls = counted(publisher)
        async with publisher:
            assert await publisher.publish(topic, batch, timeout_s=20) == 50
        return calls.calls

    assert asyncio.run(scenario()) == Counter({"produce_batch": 1})
    assert len(consume_all(kafka_bootstrap_servers, topic, 50)) == 50


def test_messages_with_headers_keep_them(kafka_bootstrap_servers: str) -> None:
    """A batch with headers (dead letters) is produced message by message: the batch call drops headers."""
    topic = new_topic(kafka_bootstrap_servers)
    batch = [EncodedMessage(b"k", b"v", (("stage", b"DECODE"),)), EncodedMessage(b"k2", b"v2")]

    async def scenario() -> tuple[int, Counter[str]]:
        publisher = AsyncKafkaPublisher(kafka_bootstrap_servers)
        calls = counted(publisher)
        async with publisher:
            return await publisher.publish(topic, batch, timeout_s=20), calls.calls

    assert asyncio.run(scenario()) == (2, Counter({"produce": 2}))
    headers = {m.key(): m.headers() for m in consume_messages(kafka_bootstrap_servers, topic, 2)}
    assert headers == {b"k": [("stage", b"DECODE")], b"k2": None}
