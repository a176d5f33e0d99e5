"""``FakeKafkaRecord`` reads like a consumed ``confluent_kafka.Message`` for hubsync's code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import confluent_kafka
import pytest

from hubsync.streams.decode import TIMESTAMP_NOT_AVAILABLE, KafkaRecord, dead_letter_for, split_tombstones
from hubsync.streams.dlq import FailureStage
from hubsync.testing import FakeKafkaRecord
from hubsync.testing.records import TIMESTAMP_CREATE_TIME
from hubsync.testing.records import TIMESTAMP_NOT_AVAILABLE as FAKE_TIMESTAMP_NOT_AVAILABLE


def test_methods_answer_the_fields() -> None:
    record = FakeKafkaRecord(
        b"v", topic="t.contacts", partition=2, offset=41, key=b"1501", timestamp=(1, 1_794_999_999_000)
    )
    assert (record.topic(), record.partition(), record.offset(), record.key(), record.value()) == (
        "t.contacts",
        2,
        41,
        b"1501",
        b"v",
    )
    assert record.timestamp() == (1, 1_794_999_999_000)


def test_defaults_are_the_first_record_of_partition_0_without_key_or_timestamp() -> None:
    record = FakeKafkaRecord(None)
    assert (record.topic(), record.partition(), record.offset(), record.key(), record.value()) == (
        "topic",
        0,
        0,
        None,
        None,
    )
    assert record.timestamp() == (TIMESTAMP_NOT_AVAILABLE, -1)


def test_timestamp_types_are_confluent_kafkas() -> None:
    assert FAKE_TIMESTAMP_NOT_AVAILABLE == confluent_kafka.TIMESTAMP_NOT_AVAILABLE == TIMESTAMP_NOT_AVAILABLE
    assert TIMESTAMP_CREATE_TIME == confluent_kafka.TIMESTAMP_CREATE_TIME


def test_frozen_and_compared_by_value() -> None:
    record = FakeKafkaRecord(b"v", offset=3)
    assert record == FakeKafkaRecord(b"v", offset=3)
    assert record != FakeKafkaRecord(b"v", offset=4)
    assert len({record, FakeKafkaRecord(b"v", offset=3)}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        record._value = b"w"


def test_it_is_a_kafka_record_for_the_dead_letter_and_tombstone_code() -> None:
    records: list[KafkaRecord] = [
        FakeKafkaRecord(b"\x00bad", topic="t", partition=1, offset=7, key=b"k", timestamp=(1, 1_000)),
        FakeKafkaRecord(None, topic="t", partition=1, offset=8),
    ]
    letter = dead_letter_for(records[0], FailureStage.DECODE, ValueError("bad"), now_ms=2_000)
    assert letter.value_record["source_topic"] == "t"
    assert (letter.value_record["source_partition"], letter.value_record["source_offset"]) == (1, 7)
    assert (letter.value_record["original_key"], letter.value_record["original_value"]) == (b"k", b"\x00bad")
    assert letter.value_record["original_timestamp"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    untimed = dead_letter_for(records[1], FailureStage.DECODE, ValueError("gone"), now_ms=2_000)
    assert untimed.value_record["original_timestamp"] is None
    with_value, tombstones = split_tombstones(records)
    assert (with_value, tombstones) == ([records[0]], [records[1]])
