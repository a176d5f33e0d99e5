"""Avro contracts: the schema files of ``schemas/`` and a fastavro codec for Kafka values."""

from hubsync.avro.codec import AvroCodec, ConfluentCodec, SingleObjectCodec, codec_from_settings
from hubsync.avro.schemas import AvroSchema, SchemaRepository, default_schema_dir

__all__ = [
    "AvroCodec",
    "AvroSchema",
    "ConfluentCodec",
    "SchemaRepository",
    "SingleObjectCodec",
    "codec_from_settings",
    "default_schema_dir",
]
