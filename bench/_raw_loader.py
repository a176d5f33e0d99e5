"""The SPEC's baseline for ingest throughput (section 6): a raw loader with no logic.

A confluent-kafka consumer reads contact change events, fastavro decodes them, and each batch is
``COPY``-ed into a temporary table and upserted into ``hubsync.contacts`` in one statement: no
dedup, no version guard, no field mapping rules, no activity log. The ingest agent is measured
against this in the same run (target: at least half its throughput, per worker process).

Only ``SNAPSHOT``-like values with distinct object ids per batch are expected (what
:func:`bench._change_events.contact_snapshot_events` makes): the same id twice in one batch
would make the upsert fail, and handling that would already be logic.
"""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import fastavro
import orjson
import psycopg
from confluent_kafka import Consumer

from bench._rates import steady_rate
from hubsync.avro.codec import SINGLE_OBJECT_HEADER_LEN
from hubsync.avro.schemas import SchemaRepository

SCHEMA_STEM = "hubspot_change_event"

_TEMP_TABLE = """
CREATE TEMP TABLE raw_contacts (
    hubspot_id          text,
    email               text,
    first_name          text,
    last_name           text,
    properties          jsonb,
    updated_at_ms       bigint
) ON COMMIT DELETE ROWS
"""
_COPY = "COPY raw_contacts (hubspot_id, email, first_name, last_name, properties, updated_at_ms) FROM STDIN"
_UPSERT = """
INSERT INTO hubsync.contacts (hubspot_id, creation_source, email, first_name, last_name, properties,
                              hubspot_updated_at)
SELECT hubspot_id, 'hubspot', email, first_name, last_name, properties, to_timestamp(updated_at_ms / 1000.0)
FROM raw_contacts
ON CONFLICT (portal_id, hubspot_id) DO UPDATE SET
    email = EXCLUDED.email,
    first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name,
    properties = EXCLUDED.properties,
    hubspot_updated_at = EXCLUDED.hubspot_updated_at,
    updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class RawLoadResult:
    """``seconds`` runs from the first batch received to the last offset commit, so the consumer
    group's join (a fixed few seconds: the broker's initial rebalance delay) is not counted;
    ``startup_seconds`` is that wait, from subscribing to the first batch."""

    events: int
    seconds: float
    events_per_s: float
    startup_seconds: float = 0.0
    #: ``(time, events loaded)`` after each commit, from the first batch received (at 0 events)
    progress: tuple[tuple[float, int], ...] = ()

    @property
    def steady_events_per_s(self) -> float:
        """The rate over the steady window (``bench._rates``), as the worker's is measured."""
        return steady_rate(self.progress, self.events)


def raw_load(
    bootstrap: str,
    topic: str,
    database_url: str,
    expected: int,
    *,
    batch_size: int = 5000,
    idle_timeout_s: float = 60.0,
    repository: SchemaRepository | None = None,
) -> RawLoadResult:
    """Load ``expected`` events of ``topic`` (from its beginning, in a consumer group of its own)
    into ``hubsync.contacts``; raise :class:`TimeoutError` when no event arrives for
    ``idle_timeout_s``."""
    # Decoding: fastavro's schemaless_reader on the body after the 10-byte single-object header,
    # with the current schema as writer (the events are written with it) and without logical
    # types (timestamps as int ms), the fastest decoding there is (the ingest worker decodes the
    # same way, see AvroSchema.parsed_plain): the baseline is the best a loader without logic does.
    writer = (repository or SchemaRepository()).current(SCHEMA_STEM).parsed_plain
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-loader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": True,
        }
    )
    loaded = 0
    progress: list[tuple[float, int]] = []
    subscribed = time.perf_counter()
    started: float | None = None
    try:
        with psycopg.connect(database_url) as conn:
            conn.execute(_TEMP_TABLE)
            conn.commit()
            consumer.subscribe([topic])
            last_seen = time.perf_counter()
            while loaded < expected:
                messages = consumer.consume(num_messages=min(batch_size, expected - loaded), timeout=1.0)
                now = time.perf_counter()
                if not messages:
                    if now - last_seen > idle_timeout_s:
                        raise TimeoutError(
                            f"raw loader: {loaded} of {expected} events after {idle_timeout_s} s idle"
                        )
                    continue
                last_seen = now
                if started is None:
                    started = now
                    progress.append((now, 0))
                loaded += _load_batch(conn, writer, messages)
                consumer.commit(asynchronous=False)
                progress.append((time.perf_counter(), loaded))
            ended = time.perf_counter()
    finally:
        consumer.close()
    seconds = ended - (started if started is not None else ended)
    return RawLoadResult(
        events=loaded,
        seconds=seconds,
        events_per_s=loaded / seconds if seconds > 0 else 0.0,
        startup_seconds=(started if started is not None else ended) - subscribed,
        progress=tuple(progress),
    )


def _load_batch(conn: psycopg.Connection[Any], writer: Any, messages: list[Any]) -> int:
    """Decode, COPY and upsert one batch in one transaction; returns the events loaded."""
    with conn.cursor() as cur:
        with cur.copy(_COPY) as copy:
            for message in messages:
                error = message.error()
                if error is not None:
                    raise RuntimeError(f"raw loader: consumer error {error.str()}")
                body = memoryview(message.value())[SINGLE_OBJECT_HEADER_LEN:]
                event = cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(body), writer, None))
                props = event["properties"]
                copy.write_row(
                    (
                        event["object_id"],
                        props.get("email"),
                        props.get("firstname"),
                        props.get("lastname"),
                        orjson.dumps(props).decode(),
                        event["updated_at"],
                    )
                )
        cur.execute(_UPSERT)
    conn.commit()
    return len(messages)
