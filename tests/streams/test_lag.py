"""Consumer lag from what partitions really hold: exact on Apache Kafka, and right on the embedded
dev broker (Tansu) too, whose reported end offsets are a record batch's first offset plus one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hubsync._runtime.processes import free_port
from hubsync.devstack import tansu
from hubsync.status import consumer_lag
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.lag import partition_lags
from hubsync.streams.topics import TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tansu_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dev_dir: Path = tmp_path_factory.mktemp("tansu")
    port = free_port()
    pid = tansu.start(dev_dir, dev_dir, port)
    try:
        tansu.wait_ready(pid, port, dev_dir, timeout=30)
        yield tansu.bootstrap_servers(port)
    finally:
        tansu.stop(dev_dir, pid)


def _load(bootstrap: str, per_partition: int) -> tuple[str, str]:
    """A two-partition topic with ``per_partition`` messages in each (one batch per partition), and a
    group that committed 1 message of partition 0 and all of partition 1."""
    topic, group = f"lag.{uuid.uuid4().hex[:8]}", f"g.{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(
        "test", topic, "dead_letter", "test", compacted=False, partitions=2, replication_factor=1
    )
    ensure_topics(admin_client(bootstrap), [spec])
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 100})
    for i in range(2 * per_partition):
        producer.produce(topic, key=str(i).encode(), value=b"v", partition=i % 2)
    assert producer.flush(20) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 1), TopicPartition(topic, 1, per_partition)], asynchronous=False
    )
    consumer.close()
    return topic, group


@pytest.mark.parametrize("broker", ["apache-kafka", "tansu"])
def test_lag_is_measured_from_the_messages(broker: str, request: pytest.FixtureRequest) -> None:
    bootstrap = request.getfixturevalue(
        "kafka_bootstrap_servers" if broker == "apache-kafka" else "tansu_bootstrap"
    )
    topic, group = _load(bootstrap, per_partition=5)
    parts = {p.partition: p for p in partition_lags(bootstrap, group, [topic])}
    assert (parts[0].end, parts[1].end) == (5, 5)
    assert (parts[0].lag, parts[1].lag) == (4, 0)
    (lag,) = consumer_lag(bootstrap, group, [topic])
    assert (lag.end_offsets, lag.lag) == (10, 4)
    if broker == "apache-kafka":
        assert lag.broker_end_trusted and lag.reported_end_offsets == 10
    else:  # the embedded broker reports less than it holds: found out, and said
        assert not lag.broker_end_trusted and lag.reported_end_offsets < 10


def test_a_group_without_commits_lags_by_everything_and_missing_topics_are_left_out(
    kafka_bootstrap_servers: str,
) -> None:
    topic, _ = _load(kafka_bootstrap_servers, per_partition=3)
    (lag,) = consumer_lag(kafka_bootstrap_servers, f"fresh.{uuid.uuid4().hex[:6]}", [topic, "no.such.topic"])
    assert (lag.topic, lag.end_offsets, lag.lag) == (topic, 6, 6)
