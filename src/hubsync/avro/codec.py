"""Avro encoding of Kafka message values, on fastavro.

Two framings, chosen by configuration:

- :class:`SingleObjectCodec` (default, no registry): Avro single-object encoding,
  ``0xC3 0x01`` + the writer schema's 8-byte CRC-64-AVRO fingerprint (little-endian) + the
  Avro binary body. Any subscriber can decode it with the files in ``schemas/``.
- :class:`ConfluentCodec` (when ``SCHEMA_REGISTRY_URL`` is set): the Confluent wire format,
  ``0x00`` + a 4-byte big-endian schema id + the body, with the schema registered under the
  subject ``<topic>-value`` (TopicNameStrategy).

Decoding resolves the writer schema against the reader's current schema, so data written by
older released versions still reads. A value that cannot be decoded raises
:class:`~hubsync.errors.UndecodableMessageError`, which callers send to the DLQ.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import fastavro

from hubsync.avro.native import REFUSED, NativeCodec
from hubsync.avro.registry import SchemaRegistryClient
from hubsync.avro.schemas import AvroSchema, SchemaRepository
from hubsync.errors import UndecodableMessageError
from hubsync.settings import Settings

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER_LEN = 10
CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER_LEN = 5


def _write_body(schema: AvroSchema, record: Mapping[str, Any]) -> bytes:
    native = schema.native
    if native is not None:
        try:
            return native.encode(record)
        except REFUSED:
            pass  # fastavro encodes what the compiled codec does not take (a datetime), or says why not
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, record)
    return buf.getvalue()


def _read_native(native: NativeCodec, data: bytes, start: int) -> dict[str, Any] | None:
    """The record, or None when the compiled codec refuses the body: fastavro then decides (it
    reads a few malformed bodies, such as a negative union index, and says why it refuses others)."""
    try:
        record = native.decode(data, start)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _read_body(body: memoryview, writer: Any, reader: Any | None, what: str) -> dict[str, Any]:
    buf = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buf, writer, reader)
    except Exception as exc:  # fastavro raises many types on garbage input
        detail = f"{type(exc).__name__}: {exc}"
        raise UndecodableMessageError(f"{what}: Avro body does not decode: {detail}") from exc
    if buf.tell() != len(body):
        raise UndecodableMessageError(f"{what}: {len(body) - buf.tell()} trailing bytes after the Avro body")
    if not isinstance(record, dict):
        raise UndecodableMessageError(f"{what}: decoded to {type(record).__name__}, not a record")
    return record


class AvroCodec(ABC):
    """Encodes and decodes one Kafka message value for a topic and its schema."""

    def __init__(self, repository: SchemaRepository) -> None:
        self.repository = repository

    @abstractmethod
    def header(self, topic: str, schema: AvroSchema) -> bytes:
        """What precedes the Avro body of a message of ``schema`` on ``topic`` (the framing)."""

    def encode(self, topic: str, schema: AvroSchema, record: Mapping[str, Any]) -> bytes:
        return self.header(topic, schema) + _write_body(schema, record)

    def encode_fields(self, topic: str, schema: AvroSchema, values: tuple[Any, ...]) -> bytes:
        """:meth:`encode` of the record whose fields' values ``values`` holds, in the schema's
        order (a database row): the compiled codec writes it without making a dict (~3 µs a
        canonical record less); without it (or with a build older than ``encode_fields``), or when
        it refuses a value, the dict of those fields is encoded as :meth:`encode` does, which then
        says why not. A tuple of another length than the schema's fields raises ``ValueError``."""
        header = self.header(topic, schema)  # outside the try: a registry's error is not a refusal
        compiled: Callable[[tuple[Any, ...]], bytes] | None = getattr(schema.native, "encode_fields", None)
        if compiled is not None:
            try:
                return header + compiled(values)
            except REFUSED:
                pass
        return header + _write_body(schema, dict(zip(schema.field_names, values, strict=True)))

    @abstractmethod
    def decode(
        self, topic: str, schema: AvroSchema, data: bytes | None, *, plain: bool = False
    ) -> dict[str, Any]:
        """Decode ``data`` into a record of ``schema``; ``plain``: logical types come out as their
        underlying type (``timestamp-millis`` as int ms), see :attr:`AvroSchema.parsed_plain`."""


class SingleObjectCodec(AvroCodec):
    """Avro single-object encoding; writer schemas are found by fingerprint in the repository."""

    def header(self, topic: str, schema: AvroSchema) -> bytes:  # noqa: ARG002
        return SINGLE_OBJECT_MAGIC + schema.fingerprint

    def decode(
        self, topic: str, schema: AvroSchema, data: bytes | None, *, plain: bool = False
    ) -> dict[str, Any]:
        if data is None:
            raise UndecodableMessageError(f"{topic}: message has no value (tombstone)")
        if len(data) < SINGLE_OBJECT_HEADER_LEN or data[:2] != SINGLE_OBJECT_MAGIC:
            raise UndecodableMessageError(
                f"{topic}: not Avro single-object encoded (expected header C3 01, got {data[:2].hex(' ')})"
            )
        fp = data[2:SINGLE_OBJECT_HEADER_LEN]
        writer = self.repository.by_fingerprint(fp)
        if writer is None:
            raise UndecodableMessageError(f"{topic}: unknown writer schema fingerprint {fp.hex()}")
        if writer.stem != schema.stem:
            raise UndecodableMessageError(
                f"{topic}: written with schema {writer.full_name}, expected {schema.full_name}"
            )
        same = writer.fingerprint == schema.fingerprint
        if plain and same and schema.native is not None and isinstance(data, bytes):
            record = _read_native(schema.native, data, SINGLE_OBJECT_HEADER_LEN)
            if record is not None:
                return record
        if plain:
            reader = None if same else schema.parsed_plain
            return _read_body(memoryview(data)[SINGLE_OBJECT_HEADER_LEN:], writer.parsed_plain, reader, topic)
        reader = None if same else schema.parsed
        return _read_body(memoryview(data)[SINGLE_OBJECT_HEADER_LEN:], writer.parsed, reader, topic)


class ConfluentCodec(AvroCodec):
    """The Confluent wire format against a Confluent-compatible schema registry."""

    def __init__(self, repository: SchemaRepository, registry: SchemaRegistryClient) -> None:
        super().__init__(repository)
        self.registry = registry
        self._ids: dict[tuple[str, bytes], int] = {}
        self._writers: dict[int, AvroSchema] = {}

    def schema_id(self, topic: str, schema: AvroSchema) -> int:
        key = (topic, schema.fingerprint)
        if key not in self._ids:
            self._ids[key] = self.registry.register(f"{topic}-value", schema.json)
        return self._ids[key]

    def header(self, topic: str, schema: AvroSchema) -> bytes:
        return CONFLUENT_MAGIC + self.schema_id(topic, schema).to_bytes(4, "big")

    def decode(
        self, topic: str, schema: AvroSchema, data: bytes | None, *, plain: bool = False
    ) -> dict[str, Any]:
        if data is None:
            raise UndecodableMessageError(f"{topic}: message has no value (tombstone)")
        if len(data) < CONFLUENT_HEADER_LEN or data[:1] != CONFLUENT_MAGIC:
            raise UndecodableMessageError(f"{topic}: not in the Confluent wire format (magic byte 0)")
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_LEN], "big")
        writer = self._writers.get(schema_id)
        if writer is None:
            text = self.registry.get_schema(schema_id)
            if text is None:
                raise UndecodableMessageError(f"{topic}: schema id {schema_id} is not in the registry")
            writer = AvroSchema(schema.stem, None, json.loads(text))
            self._writers[schema_id] = writer
        if plain:
            return _read_body(
                memoryview(data)[CONFLUENT_HEADER_LEN:], writer.parsed_plain, schema.parsed_plain, topic
            )
        return _read_body(memoryview(data)[CONFLUENT_HEADER_LEN:], writer.parsed, schema.parsed, topic)


def codec_from_settings(settings: Settings, repository: SchemaRepository | None = None) -> AvroCodec:
    """Single-object encoding unless ``SCHEMA_REGISTRY_URL`` is set."""
    repo = repository or SchemaRepository()
    if settings.schema_registry_url:
        return ConfluentCodec(repo, SchemaRegistryClient(settings.schema_registry_url))
    return SingleObjectCodec(repo)
