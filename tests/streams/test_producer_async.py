"""``AsyncKafkaPublisher`` against a real Apache Kafka broker."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.errors import RetriableError
from hubsync.streams.admin import admin_client
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage, OutgoingMessage

pytestmark = pytest.mark.integration
PARTITIONS = 3


def new_topic(bootstrap: str) -> str:
    name = f"test.async.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)
    for future in admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)]
    ).values():
        future.result()
    deadline = time.monotonic() + 10
    while name not in admin.list_topics(timeout=5).topics and time.monotonic() < deadline:
        time.sleep(0.05)
    return name


def consume_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    found: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 20
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append((message.key(), message.value()))
    finally:
        consumer.close()
    return found


def test_concurrent_batches_are_acknowledged_without_blocking_the_loop(kafka_bootstrap_servers: str) -> None:
    topic = new_topic(kafka_bootstrap_servers)

    async def scenario() -> tuple[list[int], float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:  # measures how long the loop is ever blocked
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async with AsyncKafkaPublisher(kafka_bootstrap_servers) as publisher:
            tick = asyncio.create_task(ticker())
            batches = [
                [EncodedMessage(f"k{b}-{i}".encode(), f"v{b}-{i}".encode()) for i in range(100)]
                for b in range(10)
            ]
            counts = await asyncio.gather(
                *(publisher.publish(topic, batch, timeout_s=20) for batch in batches)
            )
            stop.set()
            await tick
        return counts, max(gaps)

    counts, worst_gap = asyncio.run(scenario())
    assert counts == [100] * 10
    assert worst_gap < 0.1, f"event loop blocked for {worst_gap:.3f} s"
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
        started = time.perf_counter()
        try:
            with pytest.raises(RetriableError, match="not acknowledged"):
                await publisher.publish("t", [EncodedMessage(b"k", b"v")], timeout_s=0.5)
            return time.perf_counter() - started
        finally:
            await publisher.close(timeout_s=0.2)

    assert asyncio.run(scenario()) < 2.0


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
