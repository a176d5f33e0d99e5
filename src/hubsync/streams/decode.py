"""Decode a batch of raw Kafka messages, routing the undecodable ones to dead letters.

:func:`decode_batch` never stops at a bad message: every message comes out either decoded or as
a :class:`~hubsync.streams.dlq.DeadLetterMessage`, so ``len(decoded) + len(dead) ==
len(messages)``. Only per-record failures (:class:`~hubsync.errors.SkippableRecordError`, which
includes :class:`~hubsync.errors.UndecodableMessageError`) become dead letters; anything else
(a schema registry that is down, say) propagates, because retrying later may succeed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.errors import SkippableRecordError
from hubsync.streams import dlq
from hubsync.streams.dlq import DeadLetterMessage, FailureStage, dead_letter

#: ``confluent_kafka.TIMESTAMP_NOT_AVAILABLE``: the message carries no timestamp
TIMESTAMP_NOT_AVAILABLE = 0
#: source partition / offset recorded when the message does not know its own (never for consumed ones)
UNKNOWN_POSITION = -1


class KafkaRecord(Protocol):
    """The read side of a consumed Kafka message, as :class:`confluent_kafka.Message` has it.

    Consumer error events (``message.error()`` set) are not records: filter them out first.
    """

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


M = TypeVar("M", bound=KafkaRecord)


def dead_letter_for(
    message: KafkaRecord,
    stage: FailureStage,
    error: BaseException,
    *,
    now_ms: int,
    topic: str | None = None,
) -> DeadLetterMessage:
    """The dead letter of a consumed ``message`` (``topic`` when the message does not name its own)."""
    ts_type, ts = message.timestamp()
    partition = message.partition()
    offset = message.offset()
    return dead_letter(
        topic=message.topic() or topic or "",
        partition=UNKNOWN_POSITION if partition is None else partition,
        offset=UNKNOWN_POSITION if offset is None else offset,
        key=message.key(),
        value=message.value(),
        timestamp_ms=None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
        stage=stage,
        error=error,
        now_ms=now_ms,
    )


def decode_batch(
    messages: Iterable[M],
    codec: AvroCodec,
    schema: AvroSchema,
    topic: str,
    *,
    now_ms: int | None = None,
    plain: bool = False,
) -> tuple[list[tuple[M, dict[str, Any]]], list[DeadLetterMessage]]:
    """Decode each message's value with ``schema``; return ``(decoded, dead)``, both in input order.

    A message whose value is missing (a tombstone) or does not decode becomes a ``DECODE``
    dead letter. Callers reading a compacted topic, where tombstones mean deletion, take them
    out first with :func:`split_tombstones`. ``now_ms`` (default: the clock, read once) is the
    ``failed_at`` of the batch's dead letters; ``plain`` decodes logical types as their underlying
    type (see :meth:`~hubsync.avro.codec.AvroCodec.decode`).
    """
    failed_at = dlq.now_ms() if now_ms is None else now_ms
    decoded: list[tuple[M, dict[str, Any]]] = []
    dead: list[DeadLetterMessage] = []
    for message in messages:
        try:
            record = codec.decode(topic, schema, message.value(), plain=plain)
        except SkippableRecordError as exc:
            dead.append(dead_letter_for(message, FailureStage.DECODE, exc, now_ms=failed_at, topic=topic))
        else:
            decoded.append((message, record))
    return decoded, dead


def split_tombstones(messages: Sequence[M]) -> tuple[list[M], list[M]]:
    """``(with_value, tombstones)``, each in input order."""
    with_value = [m for m in messages if m.value() is not None]
    tombstones = [m for m in messages if m.value() is None]
    return with_value, tombstones
