"""A standalone subscriber of ``crm.contacts``: decode hubsync's records with fastavro and print them.

Needs only ``confluent-kafka``, ``fastavro`` and hubsync's schema files (``schemas/`` of the
repository), not hubsync itself. Values are Avro single-object encoded::

    C3 01 | 8-byte CRC-64-AVRO fingerprint of the writer schema (little-endian) | Avro binary body

The writer schema is found by its fingerprint among the current schema and every released version
(``schemas/released/crm_contact/v<N>.avsc``), and the body is resolved against the current schema,
so records written by an older hubsync still read.

    python examples/consume_crm_contacts.py --bootstrap localhost:9092 --schema-dir schemas
    python examples/consume_crm_contacts.py --from-beginning --max-messages 10 --timeout 30

Each record is printed as one JSON line: ``{"key": ..., "value": {...}}``; a tombstone (no value) is
printed with ``"value": null``. Exit code 0, or 1 when a value cannot be decoded.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, KafkaException
from fastavro.schema import fingerprint, to_parsing_canonical_form

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
HEADER_LEN = 10  # magic (2) + fingerprint (8)
SCHEMA_STEM = "crm_contact"


def load_schemas(schema_dir: Path, stem: str = SCHEMA_STEM) -> tuple[Any, dict[bytes, Any]]:
    """The current (reader) schema and every known writer schema by its 8-byte fingerprint."""
    paths = [schema_dir / f"{stem}.avsc", *sorted((schema_dir / "released" / stem).glob("v*.avsc"))]
    writers: dict[bytes, Any] = {}
    for path in paths:
        definition = json.loads(path.read_text("utf-8"))
        canonical = to_parsing_canonical_form(definition)
        writers[bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))] = fastavro.parse_schema(definition)
    reader = fastavro.parse_schema(json.loads(paths[0].read_text("utf-8")))
    return reader, writers


def decode(value: bytes, reader: Any, writers: dict[bytes, Any]) -> dict[str, Any]:
    """One single-object encoded value as a dict (raises ValueError when it does not decode)."""
    if len(value) < HEADER_LEN or value[:2] != SINGLE_OBJECT_MAGIC:
        raise ValueError(f"not Avro single-object encoding (header {value[:2].hex(' ')})")
    writer = writers.get(value[2:HEADER_LEN])
    if writer is None:
        raise ValueError(f"unknown writer schema fingerprint {value[2:HEADER_LEN].hex()}")
    record = fastavro.schemaless_reader(io.BytesIO(value[HEADER_LEN:]), writer, reader)
    if not isinstance(record, dict):
        raise ValueError("value is not an Avro record")
    return record


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    parser.add_argument("--topic", default="crm.contacts", help="topic to read (default: crm.contacts)")
    parser.add_argument(
        "--schema-dir",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "schemas",
        help="directory holding crm_contact.avsc and released/ (default: the repository's schemas/)",
    )
    parser.add_argument("--group", default=None, help="consumer group (default: a new one per run)")
    parser.add_argument(
        "--from-beginning", action="store_true", help="read the topic from its start (a new group only)"
    )
    parser.add_argument("--max-messages", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--timeout", type=float, default=0.0, help="stop after this many seconds (0: never)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reader, writers = load_schemas(args.schema_dir)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group or f"consume-crm-contacts-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([args.topic])
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    seen = 0
    try:
        while args.max_messages <= 0 or seen < args.max_messages:
            if deadline is not None and time.monotonic() >= deadline:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            raw_key = msg.key()
            key = None if raw_key is None else raw_key.decode("utf-8")
            raw = msg.value()
            try:
                value = None if raw is None else decode(raw, reader, writers)
            except Exception as exc:  # fastavro raises many types on garbage input
                print(f"offset {msg.offset()} of {msg.topic()}[{msg.partition()}]: {exc}", file=sys.stderr)
                return 1
            print(json.dumps({"key": key, "value": value}, default=_json_default, sort_keys=True), flush=True)
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
