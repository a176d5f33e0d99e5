"""The three-node KRaft cluster of the fault suite: replicated topics keep taking acks=all writes
with a node down, and killing the active controller moves it to another node."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from hubsync.testing.kafka_cluster import KafkaCluster

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, n: int) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered = []
    for i in range(n):
        producer.produce(topic, str(i).encode(), on_delivery=lambda err, _msg: delivered.append(err))
    producer.flush(60)
    return sum(err is None for err in delivered)


def test_a_node_down_loses_no_acknowledged_write_and_the_controller_moves() -> None:
    with KafkaCluster() as cluster:
        _exercise(cluster)


def _exercise(cluster: KafkaCluster) -> None:
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(timeout=60)
    assert _produce(cluster.bootstrap_servers, topic, 100) == 100
    leader = cluster.active_controller()
    cluster.kill(leader)
    assert cluster.active_controller() != leader
    assert _produce(cluster.bootstrap_servers, topic, 100) == 100  # min.insync.replicas=2 of 3
    cluster.start_node(leader)
    described = admin.list_topics(topic, timeout=30).topics[topic]
    assert all(len(p.replicas) == 3 for p in described.partitions.values())
