"""Dead letters: messages that could not be decoded or processed, parked on ``hubsync.dlq``.

The pure part, :func:`dead_letter`, turns a failed message and its exception into a
:class:`DeadLetterMessage`: the ``dead_letter.avsc`` record plus the same facts as Kafka headers
(``hubsync.source.topic``, ``hubsync.source.partition``, ``hubsync.source.offset``,
``hubsync.error``, ``hubsync.stage``), keyed by the original key. Error texts are redacted
(URL passwords, bearer tokens, ``password=``-style pairs, HubSpot private-app tokens) and
truncated, so a dead letter never leaks a secret nor grows without bound.

:class:`DeadLetterPublisher` encodes dead letters with the DLQ topic's schema, publishes them
with an :class:`~hubsync.streams.producer.AsyncKafkaPublisher`, waits for the broker's
acknowledgements and counts them in ``hubsync_dlq_messages_total{source_topic,stage}``. A
consumer commits the offsets of the failed messages only after :meth:`DeadLetterPublisher.publish`
returned, which keeps ``count(DLQ) + count(applied) = count(in)`` under at-least-once delivery.
"""

from __future__ import annotations

import enum
import re
import time
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hubsync.metrics import dlq_metrics
from hubsync.streams.producer import EncodedMessage
from hubsync.streams.publisher import TopicPublisher

DEAD_LETTER_SCHEMA = "dead_letter"
#: longest error text kept (in the record and in the ``hubsync.error`` header), in characters
MAX_ERROR_CHARS = 1000
_ELLIPSIS = "…"
#: how much of an error message is scanned for secrets before truncation to MAX_ERROR_CHARS
_REDACT_SCAN_CHARS = 8 * MAX_ERROR_CHARS
REDACTED = "***"

HEADER_SOURCE_TOPIC = "hubsync.source.topic"
HEADER_SOURCE_PARTITION = "hubsync.source.partition"
HEADER_SOURCE_OFFSET = "hubsync.source.offset"
HEADER_ERROR = "hubsync.error"
HEADER_STAGE = "hubsync.stage"


class FailureStage(enum.StrEnum):
    """Where a message failed; the symbols of the ``FailureStage`` enum of ``dead_letter.avsc``."""

    DECODE = "DECODE"
    VALIDATE = "VALIDATE"
    APPLY = "APPLY"
    PUBLISH = "PUBLISH"


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    """One message for the DLQ: ``value_record`` follows ``dead_letter.avsc`` (times as UTC
    datetimes, as fastavro decodes them); ``key`` is the failed message's key (may be None)."""

    key: bytes | None
    value_record: dict[str, Any]
    headers: tuple[tuple[str, bytes], ...]

    @property
    def source_topic(self) -> str:
        return str(self.value_record["source_topic"])

    @property
    def stage(self) -> FailureStage:
        return FailureStage(self.value_record["stage"])


# --- redaction --------------------------------------------------------------------------------

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host: greedy up to the last "@" of the token, since passwords may
    # contain an unescaped "@"; hiding part of a host is a fair price for never leaking a password
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):\S+@"), rf"\1:{REDACTED}@"),
    # Authorization: Bearer <token> / Basic <credentials> / bare "Bearer <token>"
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:\w+\s+)?\S+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(\bbearer\s+)\S+"), rf"\1{REDACTED}"),
    # password=..., access_token: ..., "client_secret": "...", hapikey=... (query strings, JSON, logs)
    (
        re.compile(
            r"(?i)(\b\w*(?:password|passwd|pwd|secret|token|api_?key|hapikey)[\"']?\s*[=:]\s*[\"']?)"
            r"[^\s&\"',;}]+"
        ),
        rf"\1{REDACTED}",
    ),
    # HubSpot private-app access tokens: pat-<region>-<uuid>
    (re.compile(r"(?i)\bpat-[a-z0-9]{2,5}-[0-9a-f-]{16,}"), f"pat-{REDACTED}"),
)


def redact_secrets(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``***``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def error_type_name(error: BaseException) -> str:
    """``module.QualName`` of the exception's class (just the name for builtins)."""
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def error_text(error: BaseException) -> str:
    """The exception's message, redacted then truncated (redacting first, so truncation cannot
    cut a secret's delimiter and let its start through). Only a bounded prefix is redacted: the
    patterns are linear per match but can go quadratic on long adversarial input."""
    try:
        message = str(error) or type(error).__name__
    except Exception:  # a broken __str__ must not stop a message from reaching the DLQ
        message = f"{type(error).__name__} (message unavailable)"
    return _truncate(redact_secrets(message[:_REDACT_SCAN_CHARS]))


# --- the pure constructor ---------------------------------------------------------------------


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds (``failed_at``)."""
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int | None,
    stage: FailureStage,
    error: BaseException,
    now_ms: int,
) -> DeadLetterMessage:
    """The dead letter for the message at ``topic``/``partition``/``offset`` that failed at
    ``stage`` with ``error``. Pure: the same arguments give the same dead letter."""
    error_type = error_type_name(error)
    message = error_text(error)
    record: dict[str, Any] = {
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "stage": stage.value,
        "error_type": error_type,
        "error_message": message,
        "failed_at": _utc(now_ms),
        "original_key": key,
        "original_value": value,
        "original_timestamp": None if timestamp_ms is None else _utc(timestamp_ms),
    }
    headers = (
        (HEADER_SOURCE_TOPIC, topic.encode()),
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
        (HEADER_ERROR, _truncate(f"{error_type}: {message}").encode()),
        (HEADER_STAGE, stage.value.encode()),
    )
    return DeadLetterMessage(key=key, value_record=record, headers=headers)


# --- metrics and publishing -------------------------------------------------------------------


class DeadLetterPublisher(TopicPublisher[DeadLetterMessage]):
    """Publishes :class:`DeadLetterMessage` s to the DLQ topic and waits for acknowledgement; the
    caller must not commit the source offsets when :meth:`publish` raises."""

    ROLE = "dlq"
    SCHEMA = DEAD_LETTER_SCHEMA
    METRICS = dlq_metrics

    def encode(self, letter: DeadLetterMessage) -> EncodedMessage:
        value = self.codec.encode(self.topic, self.schema, letter.value_record)
        return EncodedMessage(letter.key, value, letter.headers)  # the original key, None included

    def count(self, letters: Sequence[DeadLetterMessage]) -> None:
        tally = Tally((letter.source_topic, letter.stage.value) for letter in letters)
        for (source_topic, stage), count in tally.items():
            self.metrics.messages.labels(source_topic=source_topic, stage=stage).inc(count)
