"""The Confluent wire format against the project's registry (the Confluent REST API, in process:
:mod:`hubsync.testing.schema_registry`); confluent-kafka's own serializers: test_registry_interop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubsync.avro.codec import ConfluentCodec, codec_from_settings
from hubsync.avro.registry import SchemaRegistryClient
from hubsync.avro.schemas import SchemaRepository
from hubsync.errors import RetriableError, UndecodableMessageError
from hubsync.settings import Settings
from hubsync.testing.schema_registry import ConfluentApiRegistry
from tests.avro.samples import SAMPLES


@pytest.fixture
def registry() -> Iterator[ConfluentApiRegistry]:
    with ConfluentApiRegistry() as running:
        yield running


@pytest.fixture
def registry_url(registry: ConfluentApiRegistry) -> str:
    """With credentials: the codec must send them as basic auth."""
    return registry.url.replace("http://", "http://reg-user:reg-pass@")


def test_confluent_round_trip_and_framing(registry: ConfluentApiRegistry, registry_url: str) -> None:
    codec = codec_from_settings(Settings(schema_registry_url=registry_url))
    assert isinstance(codec, ConfluentCodec)
    schema = codec.repository.current("hubspot_change_event")
    data = codec.encode("hubspot.contacts.changes", schema, SAMPLES["hubspot_change_event"])
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
    assert registry.state.subjects == {"hubspot.contacts.changes-value": [1]}
    assert registry.state.authorization[0] is not None and registry.state.authorization[0].startswith(
        "Basic "
    )
    # a fresh codec (another process) resolves the writer schema by id from the registry
    other = ConfluentCodec(SchemaRepository(), SchemaRegistryClient(registry_url))
    assert other.decode("hubspot.contacts.changes", schema, data) == SAMPLES["hubspot_change_event"]


def test_confluent_decode_errors(registry_url: str) -> None:
    codec = ConfluentCodec(SchemaRepository(), SchemaRegistryClient(registry_url))
    schema = codec.repository.current("dead_letter")
    with pytest.raises(UndecodableMessageError, match="wire format"):
        codec.decode("t", schema, b"\xc3\x01abc")
    with pytest.raises(UndecodableMessageError, match="schema id 99"):
        codec.decode("t", schema, b"\x00\x00\x00\x00\x63\x02")


def test_unreachable_registry_is_retriable() -> None:
    client = SchemaRegistryClient("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(RetriableError, match="unreachable"):
        client.get_schema(1)
