"""The Confluent wire format, checked with a client nobody here wrote: confluent-kafka's own
``SchemaRegistryClient``, ``AvroSerializer`` and ``AvroDeserializer`` read what hubsync's
:class:`ConfluentCodec` writes and hubsync reads what they write, through the project's registry
(:class:`hubsync.testing.schema_registry.ConfluentApiRegistry`, the Confluent REST API; why not
Apicurio or Confluent's registry: docs/subscribers.md) and, once, through Apache Kafka.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from hubsync.avro.codec import ConfluentCodec
from hubsync.avro.registry import SchemaRegistryClient as HubsyncRegistryClient
from hubsync.avro.schemas import SchemaRepository
from hubsync.errors import SchemaError
from hubsync.streams.producer import KafkaSink, OutgoingMessage
from hubsync.testing.schema_registry import ConfluentApiRegistry
from tests.avro.samples import SAMPLES

REPO = SchemaRepository()
TOPICS = {
    "hubspot_change_event": "hubspot.contacts.changes",
    "platform_change_event": "platform.contacts.changes",
    "crm_contact": "crm.contacts",
    "crm_account": "crm.accounts",
    "push_error": "hubsync.push.errors",
    "dead_letter": "hubsync.dlq",
}


@pytest.fixture
def registry() -> Iterator[ConfluentApiRegistry]:
    with ConfluentApiRegistry() as running:
        yield running


def _codec(registry: ConfluentApiRegistry) -> ConfluentCodec:
    return ConfluentCodec(SchemaRepository(), HubsyncRegistryClient(registry.url))


def _context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_confluents_deserializer_reads_what_hubsync_writes(registry: ConfluentApiRegistry, stem: str) -> None:
    topic = TOPICS[stem]
    codec = _codec(registry)
    schema = codec.repository.current(stem)
    data = codec.encode(topic, schema, SAMPLES[stem])
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert deserializer(data, _context(topic)) == codec.decode(topic, schema, data) == SAMPLES[stem]


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_hubsync_reads_what_confluents_serializer_writes(registry: ConfluentApiRegistry, stem: str) -> None:
    topic = TOPICS[stem]
    schema = REPO.current(stem)
    serializer = AvroSerializer(SchemaRegistryClient({"url": registry.url}), schema.json)
    data = serializer(SAMPLES[stem], _context(topic))
    assert data is not None and data[:1] == b"\x00"
    assert _codec(registry).decode(topic, schema, data) == SAMPLES[stem]
    assert registry.state.subjects == {f"{topic}-value": [1]}


def _with_field(definition: dict[str, Any], field: dict[str, Any]) -> str:
    return json.dumps(dict(definition, fields=[*definition["fields"], field]))


def test_the_registry_refuses_a_schema_that_would_break_the_subscribers(
    registry: ConfluentApiRegistry,
) -> None:
    """The subject's rule is FULL: new readers read old data and old readers (subscribers still on
    the previous release) read new data. A released history registers in order; an additive
    field with a default passes; a field added without one is refused with 409, which hubsync's
    client turns into a SchemaError, and confluent's client's own compatibility check agrees."""
    subject = "crm.contacts-value"
    client = SchemaRegistryClient({"url": registry.url})
    client.set_compatibility(subject, "FULL")
    hubsync_client = HubsyncRegistryClient(registry.url)
    for released in REPO.released("crm_contact"):
        hubsync_client.register(subject, released.json)
    current = REPO.current("crm_contact").definition
    additive = _with_field(current, {"name": "score", "type": ["null", "int"], "default": None})
    breaking = _with_field(current, {"name": "score", "type": "int"})
    assert client.test_compatibility(subject, Schema(additive, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(breaking, "AVRO")) is False
    with pytest.raises(SchemaError, match="409"):
        hubsync_client.register(subject, breaking)
    hubsync_client.register(subject, additive)
    assert client.get_latest_version(subject).version == len(REPO.released("crm_contact")) + 1


@pytest.mark.integration
def test_a_confluent_consumer_reads_hubsyncs_messages_from_kafka(
    registry: ConfluentApiRegistry, kafka_bootstrap_servers: str
) -> None:
    topic = f"test.interop.{uuid.uuid4().hex[:8]}"
    sink = KafkaSink(kafka_bootstrap_servers, _codec(registry))
    sink.publish(topic, REPO.current("crm_contact"), [OutgoingMessage("c-1", SAMPLES["crm_contact"])])
    sink.close()
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap_servers,
            "group.id": f"interop-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        assert deserializer(message.value(), _context(topic)) == SAMPLES["crm_contact"]
    finally:
        consumer.close()
