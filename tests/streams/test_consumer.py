"""The batch-consumer skeleton the ingest and push processors share: decode by topic, retry until done."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry, Counter

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.errors import RetriableError
from hubsync.streams.consumer import decode_by_topic, retry_until_done
from hubsync.streams.dlq import FailureStage
from hubsync.testing import FakeKafkaRecord
from tests.avro.samples import SAMPLES

CODEC = SingleObjectCodec(SchemaRepository())
SCHEMA = CODEC.repository.current("hubspot_change_event")
log = logging.getLogger(__name__)


def _retries() -> Counter:
    return Counter("retries", "retries", ["reason"], registry=CollectorRegistry())


def test_decode_by_topic_decodes_each_topic_and_dead_letters_the_rest() -> None:
    good = CODEC.encode("a", SCHEMA, SAMPLES["hubspot_change_event"])
    messages = [
        FakeKafkaRecord(good, topic="a", offset=0),
        FakeKafkaRecord(b"not avro", topic="b", offset=7, key=b"k"),
        FakeKafkaRecord(good, topic="b", offset=8),
        FakeKafkaRecord(None, topic="a", offset=1),  # a tombstone
    ]
    decoded, dead = decode_by_topic(messages, CODEC, SCHEMA, now_ms=1_000)
    assert [(m.topic(), m.offset()) for m, _ in decoded] == [("a", 0), ("b", 8)]
    assert all(value["event_id"] == SAMPLES["hubspot_change_event"]["event_id"] for _, value in decoded)
    assert sorted((d.source_topic, d.value_record["source_offset"]) for d in dead) == [("a", 1), ("b", 7)]
    assert {d.value_record["stage"] for d in dead} == {FailureStage.DECODE.value}
    assert len(decoded) + len(dead) == len(messages)


def test_retry_until_done_retries_retriable_failures_with_the_backoff() -> None:
    calls: list[int] = []
    waits: list[int] = []
    retries = _retries()

    async def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("broker away")
        return "done"

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return 0.0

    result, attempts = asyncio.run(
        retry_until_done(
            work, retriable=(RetriableError,), backoff=backoff, retries=retries, what="t", log=log
        )
    )
    assert (result, attempts, waits) == ("done", 3, [1, 2])
    assert retries.labels(reason="RetriableError")._value.get() == 2


def test_retry_until_done_lets_other_failures_through() -> None:
    async def work() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(
            retry_until_done(
                work,
                retriable=(RetriableError,),
                backoff=lambda _: 0.0,
                retries=_retries(),
                what="t",
                log=log,
            )
        )
