"""Dead letters: the pure constructor, batch decoding with DLQ routing, and publishing to a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from hubsync.avro.codec import SINGLE_OBJECT_MAGIC, SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.errors import UndecodableMessageError
from hubsync.settings import Settings, TopicNames
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.decode import decode_batch, split_tombstones
from hubsync.streams.dlq import (
    MAX_ERROR_CHARS,
    DeadLetterMessage,
    DeadLetterPublisher,
    FailureStage,
    dead_letter,
    redact_secrets,
)
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage
from hubsync.streams.topics import spec_for
from hubsync.testing import FakeKafkaRecord, wait_for
from tests.avro.samples import SAMPLES

REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)
CHANGE = REPO.current("hubspot_change_event")
DEAD = REPO.current("dead_letter")
TOPIC = "hubspot.contacts.changes"
NOW_MS = 1_795_000_000_123  # 2026-11-18T11:06:40.123Z
TS_MS = 1_794_999_999_000


def consumed(value: bytes | None, offset: int, **overrides: Any) -> FakeKafkaRecord:
    """A message consumed from partition 2 of TOPIC, key 1501, created at TS_MS (unless overridden)."""
    fields: dict[str, Any] = {"topic": TOPIC, "partition": 2, "key": b"1501", "timestamp": (1, TS_MS)}
    return FakeKafkaRecord(value, offset=offset, **{**fields, **overrides})


def letter_for(error: BaseException, **overrides: Any) -> DeadLetterMessage:
    args: dict[str, Any] = {
        "topic": TOPIC,
        "partition": 2,
        "offset": 41,
        "key": b"1501",
        "value": b"\x00garbage",
        "timestamp_ms": TS_MS,
        "stage": FailureStage.DECODE,
        "error": error,
        "now_ms": NOW_MS,
    }
    args.update(overrides)
    return dead_letter(**args)


def header_map(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    return dict(headers)


# --- dead_letter ------------------------------------------------------------------------------


def test_dead_letter_record_and_headers() -> None:
    letter = letter_for(UndecodableMessageError("not Avro"))
    assert letter.key == b"1501"
    assert letter.value_record == {
        "source_topic": TOPIC,
        "source_partition": 2,
        "source_offset": 41,
        "stage": "DECODE",
        "error_type": "hubsync.errors.UndecodableMessageError",
        "error_message": "not Avro",
        "failed_at": datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC),
        "original_key": b"1501",
        "original_value": b"\x00garbage",
        "original_timestamp": datetime(2026, 11, 18, 11, 6, 39, tzinfo=UTC),
    }
    assert header_map(letter.headers) == {
        "hubsync.source.topic": TOPIC.encode(),
        "hubsync.source.partition": b"2",
        "hubsync.source.offset": b"41",
        "hubsync.error": b"hubsync.errors.UndecodableMessageError: not Avro",
        "hubsync.stage": b"DECODE",
    }
    assert letter.source_topic == TOPIC and letter.stage is FailureStage.DECODE


def test_dead_letter_record_round_trips_through_the_dead_letter_schema() -> None:
    letter = letter_for(ValueError("bad"), key=None, value=None, timestamp_ms=None, stage=FailureStage.APPLY)
    encoded = CODEC.encode("hubsync.dlq", DEAD, letter.value_record)
    assert CODEC.decode("hubsync.dlq", DEAD, encoded) == letter.value_record
    assert letter.value_record["error_type"] == "ValueError"
    assert letter.value_record["original_timestamp"] is None


def test_failure_stage_matches_the_schema_enum() -> None:
    stage_field = next(f for f in DEAD.definition["fields"] if f["name"] == "stage")
    assert [s.value for s in FailureStage] == stage_field["type"]["symbols"]


def test_long_errors_are_truncated_in_record_and_header() -> None:
    letter = letter_for(RuntimeError("x" * 50_000))
    message = letter.value_record["error_message"]
    assert len(message) == MAX_ERROR_CHARS and message.endswith("…")
    assert len(header_map(letter.headers)["hubsync.error"].decode()) <= MAX_ERROR_CHARS


def test_empty_error_message_falls_back_to_the_type() -> None:
    assert letter_for(KeyError()).value_record["error_message"] == "KeyError"


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("cannot connect to postgresql://u:pw@h/db: refused", ["pw"]),
        ("Authorization failed for Bearer abc", ["abc"]),
        ("header Authorization: Bearer tok3n-xyz", ["tok3n-xyz"]),
        ("dsn postgresql://admin:p@ss:w0rd@db.internal:5432/hub", ["p@ss:w0rd", "ss:w0rd"]),
        ("GET /crm?hapikey=deadbeef42&limit=10", ["deadbeef42"]),
        ('{"access_token": "s3cr3t-value", "client_secret":"zz-top"}', ["s3cr3t-value", "zz-top"]),
        ("password=hunter2 user=bob", ["hunter2"]),
        ("token pat-na1-2f1c5a40-6c5e-4c8e-9d3b-0a1b2c3d4e5f rejected", ["2f1c5a40-6c5e"]),
    ],
)
def test_secrets_never_reach_the_dead_letter(text: str, secrets: list[str]) -> None:
    letter = letter_for(RuntimeError(text))
    for where in (letter.value_record["error_message"], header_map(letter.headers)["hubsync.error"].decode()):
        for secret in secrets:
            assert secret not in where, where
        assert "***" in where


def test_redaction_keeps_ordinary_text() -> None:
    text = "fastavro: unknown writer schema fingerprint 0011aabb at offset 3"
    assert redact_secrets(text) == text


def test_a_secret_straddling_the_truncation_limit_does_not_leak() -> None:
    letter = letter_for(RuntimeError("x" * (MAX_ERROR_CHARS - 15) + " postgresql://u:pw@h/db"))
    assert "pw" not in letter.value_record["error_message"]
    assert "pw" not in header_map(letter.headers)["hubsync.error"].decode()


# --- decode_batch -----------------------------------------------------------------------------


def good_value(object_id: str = "1501") -> bytes:
    return CODEC.encode(TOPIC, CHANGE, {**SAMPLES["hubspot_change_event"], "object_id": object_id})


def test_decode_batch_routes_bad_messages_and_keeps_the_good_ones() -> None:
    good = good_value()
    wrong_schema = CODEC.encode("crm.contacts", REPO.current("crm_contact"), SAMPLES["crm_contact"])
    unknown_fp = SINGLE_OBJECT_MAGIC + b"\x01" * 8 + good[10:]
    messages = [
        consumed(good, 0),
        consumed(b"\xde\xad\xbe\xef", 1, key=None),  # garbage, no key
        consumed(wrong_schema, 2),
        consumed(None, 3),  # tombstone
        consumed(good_value("1502"), 4),
        consumed(good[:-3], 5),  # truncated body
        consumed(good + b"\x00", 6),  # trailing byte
        consumed(unknown_fp, 7, timestamp=(0, -1)),  # no timestamp
        consumed(b"", 8),
    ]
    decoded, dead = decode_batch(messages, CODEC, CHANGE, TOPIC, now_ms=NOW_MS)
    assert len(decoded) + len(dead) == len(messages)
    assert [(m.offset(), r["object_id"]) for m, r in decoded] == [(0, "1501"), (4, "1502")]
    assert decoded[0][0] is messages[0]
    assert [d.value_record["source_offset"] for d in dead] == [1, 2, 3, 5, 6, 7, 8]
    for letter in dead:
        offset = letter.value_record["source_offset"]
        source = messages[offset]
        assert letter.key == source.key()
        assert letter.value_record["original_value"] == source.value()
        assert letter.value_record["original_key"] == source.key()
        assert letter.value_record["stage"] == "DECODE"
        assert letter.value_record["error_type"] == "hubsync.errors.UndecodableMessageError"
        assert header_map(letter.headers)["hubsync.source.offset"] == str(offset).encode()
        assert letter.value_record["source_partition"] == 2
    by_offset = {d.value_record["source_offset"]: d for d in dead}
    assert "tombstone" in by_offset[3].value_record["error_message"]
    assert "written with schema io.hubsync.crm.CrmContact" in by_offset[2].value_record["error_message"]
    assert by_offset[7].value_record["original_timestamp"] is None
    assert by_offset[1].value_record["original_timestamp"] == datetime(2026, 11, 18, 11, 6, 39, tzinfo=UTC)


def test_decode_batch_of_nothing() -> None:
    assert decode_batch([], CODEC, CHANGE, TOPIC) == ([], [])


def test_split_tombstones() -> None:
    messages = [consumed(b"a", 0), consumed(None, 1), consumed(b"b", 2)]
    with_value, tombstones = split_tombstones(messages)
    assert [m.offset() for m in with_value] == [0, 2]
    assert [m.offset() for m in tombstones] == [1]


_PREFIX = SINGLE_OBJECT_MAGIC + CHANGE.fingerprint
values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.binary(max_size=200).map(lambda body: _PREFIX + body),  # right header, random body
    st.integers(min_value=0, max_value=300).map(lambda n: good_value()[:n]),  # cut-off good values
    st.just(good_value()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=20))
def test_decode_batch_accounts_for_every_message(raw: list[bytes | None]) -> None:
    messages = [consumed(v, i) for i, v in enumerate(raw)]
    decoded, dead = decode_batch(messages, CODEC, CHANGE, TOPIC, now_ms=NOW_MS)
    assert len(decoded) + len(dead) == len(messages)
    offsets = sorted([m.offset() for m, _ in decoded] + [d.value_record["source_offset"] for d in dead])
    assert offsets == list(range(len(messages)))
    for letter in dead:  # every dead letter is valid for the DLQ schema
        CODEC.encode("hubsync.dlq", DEAD, letter.value_record)


# --- DeadLetterPublisher without a broker -----------------------------------------------------


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[EncodedMessage]]] = []

    async def publish(
        self, topic: str, messages: Sequence[EncodedMessage], *, timeout_s: float | None = None
    ) -> int:
        self.sent.append((topic, list(messages)))
        return len(messages)


def counter_value(registry: CollectorRegistry, source_topic: str, stage: str) -> float | None:
    return registry.get_sample_value(
        "hubsync_dlq_messages_total", {"source_topic": source_topic, "stage": stage}
    )


def test_publisher_encodes_keeps_headers_and_counts() -> None:
    registry = CollectorRegistry()
    fake = RecordingPublisher()
    settings_ = Settings(topics=TopicNames(dlq="my.dlq"))
    dlq = DeadLetterPublisher.from_settings(settings_, fake, CODEC, registry=registry)  # type: ignore[arg-type]
    letters = [
        letter_for(UndecodableMessageError("a"), offset=1),
        letter_for(UndecodableMessageError("b"), offset=2, key=None),
        letter_for(ValueError("c"), offset=3, stage=FailureStage.VALIDATE, topic="other"),
    ]
    assert asyncio.run(dlq.publish(letters)) == 3
    assert asyncio.run(dlq.publish([])) == 0
    [(topic, sent)] = fake.sent
    assert topic == "my.dlq"
    assert [m.key for m in sent] == [b"1501", None, b"1501"]
    assert [m.headers for m in sent] == [ltr.headers for ltr in letters]
    assert [CODEC.decode(topic, DEAD, m.value) for m in sent] == [ltr.value_record for ltr in letters]
    assert counter_value(registry, TOPIC, "DECODE") == 2
    assert counter_value(registry, "other", "VALIDATE") == 1
    # a second publisher on the same registry shares the counter instead of failing to register
    DeadLetterPublisher(fake, CODEC, "my.dlq", registry=registry)  # type: ignore[arg-type]


def test_publisher_counts_nothing_when_publishing_fails() -> None:
    class Failing(RecordingPublisher):
        async def publish(
            self, topic: str, messages: Sequence[EncodedMessage], *, timeout_s: float | None = None
        ) -> int:
            raise RuntimeError("broker gone")

    registry = CollectorRegistry()
    dlq = DeadLetterPublisher(Failing(), CODEC, "my.dlq", registry=registry)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        asyncio.run(dlq.publish([letter_for(UndecodableMessageError("a"))]))
    assert counter_value(registry, TOPIC, "DECODE") is None


# --- with a real broker -----------------------------------------------------------------------


def consume(bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 20.0) -> list[Any]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list[Any] = []

    def enough() -> bool:
        message: Message | None = consumer.poll(0.2)
        if message is not None and message.error() is None:
            found.append(message)
        return len(found) >= expected

    try:
        wait_for(
            enough,
            timeout=timeout,
            interval=0,  # poll() waits by itself
            what=lambda: f"{expected} messages on {topic} ({len(found)} so far)",
        )
    finally:
        consumer.close()
    return found


@pytest.mark.integration
def test_undecodable_messages_reach_the_dlq_topic(kafka_bootstrap_servers: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    names = TopicNames(**{role: prefix + default for role, default in TopicNames().model_dump().items()})
    settings_ = Settings(kafka_bootstrap_servers=kafka_bootstrap_servers, topics=names, topic_partitions=3)
    source_spec, dlq_spec = spec_for(settings_, "hubspot_contacts"), spec_for(settings_, "dlq")
    ensure_topics(admin_client(kafka_bootstrap_servers), [source_spec, dlq_spec])
    source = source_spec.name

    wrong_schema = CODEC.encode(source, REPO.current("crm_contact"), SAMPLES["crm_contact"])
    # (key, value, is_good), all to partition 0 so the offsets are 0..7 in this order
    plan: list[tuple[bytes | None, bytes, bool]] = [
        (b"1", good_value("1"), True),
        (b"bad-1", b"not avro at all", False),
        (b"2", good_value("2"), True),
        (b"3", good_value("3"), True),
        (None, b"\xc3\x01" + b"\xff" * 12, False),
        (b"4", good_value("4"), True),
        (b"bad-3", wrong_schema, False),
        (b"5", good_value("5"), True),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "enable.idempotence": True})
    for key, value, _ in plan:
        producer.produce(source, key=key, value=value, partition=0)
    assert producer.flush(20) == 0

    consumed = consume(kafka_bootstrap_servers, source, 1, len(plan))
    assert [m.offset() for m in consumed] == list(range(len(plan)))
    decoded, dead = decode_batch(consumed, CODEC, CHANGE, source)
    assert [r["object_id"] for _, r in decoded] == ["1", "2", "3", "4", "5"]
    bad_offsets = [i for i, (_, _, ok) in enumerate(plan) if not ok]
    assert [d.value_record["source_offset"] for d in dead] == bad_offsets

    registry = CollectorRegistry()

    async def publish() -> int:
        async with AsyncKafkaPublisher(kafka_bootstrap_servers) as publisher:
            dlq = DeadLetterPublisher.from_settings(settings_, publisher, CODEC, registry=registry)
            return await dlq.publish(dead, timeout_s=20)

    assert asyncio.run(publish()) == 3
    assert counter_value(registry, source, "DECODE") == 3

    parked = consume(kafka_bootstrap_servers, dlq_spec.name, dlq_spec.partitions, 3)
    assert len(parked) == 3
    parked.sort(key=lambda m: CODEC.decode(dlq_spec.name, DEAD, m.value())["source_offset"])
    for message, offset in zip(parked, bad_offsets, strict=True):
        key, value, _ = plan[offset]
        record = CODEC.decode(dlq_spec.name, DEAD, message.value())
        assert message.key() == key
        assert record["source_topic"] == source
        assert record["source_partition"] == 0
        assert record["source_offset"] == offset
        assert record["stage"] == "DECODE"
        assert record["error_type"] == "hubsync.errors.UndecodableMessageError"
        assert record["original_key"] == key
        assert record["original_value"] == value
        assert record["original_timestamp"] is not None
        headers = dict(message.headers())
        assert headers["hubsync.source.topic"] == source.encode()
        assert headers["hubsync.source.partition"] == b"0"
        assert headers["hubsync.source.offset"] == str(offset).encode()
        assert headers["hubsync.stage"] == b"DECODE"
        assert headers["hubsync.error"].startswith(b"hubsync.errors.UndecodableMessageError: ")


@pytest.mark.timeout(60)  # catastrophic backtracking over 1.2 MB would run for hours: it must finish
def test_redaction_of_huge_adversarial_messages_does_not_hang() -> None:
    letter = letter_for(RuntimeError("a://b:" * 200_000))
    assert len(letter.value_record["error_message"]) == MAX_ERROR_CHARS


def test_an_exception_whose_str_fails_still_makes_a_dead_letter() -> None:
    class BrokenError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert letter_for(BrokenError()).value_record["error_message"] == "BrokenError (message unavailable)"
