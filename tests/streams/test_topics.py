"""Topic administration and an Avro round trip through a real Apache Kafka broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.settings import Settings, TopicNames
from hubsync.streams.admin import admin_client, describe_topic_configs, ensure_topics
from hubsync.streams.producer import KafkaSink, OutgoingMessage
from hubsync.streams.topics import spec_for, topic_specs
from hubsync.testing import wait_for
from tests.avro.samples import SAMPLES

pytestmark = pytest.mark.integration


def wait_for_config(admin: AdminClient, topic: str, key: str, value: str) -> None:
    """Config changes reach the broker's metadata a moment after the controller accepted them."""
    wait_for(
        lambda: describe_topic_configs(admin, [topic])[topic][key] == value,
        timeout=15,
        interval=0.05,
        what=f"{topic} {key} to become {value}",
    )


def unique_settings(bootstrap: str) -> Settings:
    """Settings whose topic names are unique to this test, so tests never share topics."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    names = TopicNames(**{role: prefix + default for role, default in TopicNames().model_dump().items()})
    return Settings(kafka_bootstrap_servers=bootstrap, topics=names, topic_partitions=3)


def test_ensure_topics_creates_all_with_the_right_policy(kafka_bootstrap_servers: str) -> None:
    settings = unique_settings(kafka_bootstrap_servers)
    admin = admin_client(kafka_bootstrap_servers)
    specs = topic_specs(settings)
    report = ensure_topics(admin, specs)
    assert sorted(report.created) == sorted(s.name for s in specs)

    metadata = admin.list_topics(timeout=10)
    configs = describe_topic_configs(admin, [s.name for s in specs])
    for spec in specs:
        assert len(metadata.topics[spec.name].partitions) == 3
        expected = "compact" if spec.role.startswith("crm_") else "delete"
        assert configs[spec.name]["cleanup.policy"] == expected, spec.name

    again = ensure_topics(admin, specs)
    assert again.created == () and again.reconfigured == ()
    assert sorted(again.existing) == sorted(s.name for s in specs)


def test_ensure_topics_reports_a_differing_config_and_repairs_it_only_with_apply(
    kafka_bootstrap_servers: str,
) -> None:
    settings = unique_settings(kafka_bootstrap_servers)
    admin = admin_client(kafka_bootstrap_servers)
    specs = topic_specs(settings)
    ensure_topics(admin, specs)
    crm = spec_for(settings, "crm_contacts").name
    wrong = ConfigResource(
        ResourceType.TOPIC,
        crm,
        incremental_configs=[
            ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([wrong]).values():
        future.result()
    wait_for_config(admin, crm, "cleanup.policy", "delete")

    # reported, left alone (an operator may have chosen it)...
    report = ensure_topics(admin, specs)
    assert report.reconfigured == () and (crm, "cleanup.policy", "delete", "compact") in report.drift
    assert describe_topic_configs(admin, [crm])[crm]["cleanup.policy"] == "delete"
    # ...and set to the default only when asked
    report = ensure_topics(admin, specs, apply=True)
    assert report.reconfigured == (crm,)
    wait_for_config(admin, crm, "cleanup.policy", "compact")
    assert ensure_topics(admin, specs).drift == ()


def test_partition_mismatch_is_reported_not_changed(kafka_bootstrap_servers: str) -> None:
    settings = unique_settings(kafka_bootstrap_servers)
    admin = admin_client(kafka_bootstrap_servers)
    ensure_topics(admin, topic_specs(settings))
    more = settings.model_copy(update={"topic_partitions": 5})
    report = ensure_topics(admin, topic_specs(more))
    assert len(report.partition_mismatches) == len(TopicNames.model_fields) == 10
    assert all(have == 3 and want == 5 for _, have, want in report.partition_mismatches)


@pytest.mark.parametrize("role", list(TopicNames.model_fields))
def test_publish_and_decode_through_kafka(kafka_bootstrap_servers: str, role: str) -> None:
    settings = unique_settings(kafka_bootstrap_servers)
    spec = spec_for(settings, role)
    ensure_topics(admin_client(kafka_bootstrap_servers), [spec])
    repo = SchemaRepository()
    codec = SingleObjectCodec(repo)
    schema = repo.current(spec.schema_stem)
    sink = KafkaSink(kafka_bootstrap_servers, codec)
    sample = SAMPLES[spec.schema_stem]
    sent = sink.publish(
        spec.name, schema, [OutgoingMessage(key="1501", value=sample, headers={"hubsync.test": role})]
    )
    sink.close()
    assert sent == 1

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        # keys hash to one partition; read them all from the beginning without a group join
        consumer.assign([TopicPartition(spec.name, p, 0) for p in range(spec.partitions)])
        message = None
        for _ in range(50):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        assert message.key() == b"1501"
        assert dict(message.headers() or [])["hubsync.test"] == role.encode()
        assert codec.decode(spec.name, schema, message.value()) == sample
    finally:
        consumer.close()
