"""The batch-consumer skeleton the ingest and push processors share.

A processor takes a batch of raw Kafka messages and must return only once the batch's effects
are durable, losing nothing:

1. :func:`decode_by_topic` decodes every message with the topic's schema; the ones that do not
   decode come back as ``DECODE`` dead letters (they go to the DLQ, never stop the batch);
2. :func:`retry_until_done` runs the batch's work, and when it fails retriably (a database or a
   broker that is away, a deadlock, HubSpot's 429s) waits by the backoff policy and runs it
   again, for as long as it takes. Any other exception propagates: that is a bug, and the
   agent crashing (its offsets uncommitted) is the safe outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from prometheus_client import Counter

from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.streams.decode import KafkaRecord, decode_batch
from hubsync.streams.dlq import DeadLetterMessage

T = TypeVar("T")
M = TypeVar("M", bound=KafkaRecord)


def decode_by_topic(
    messages: Sequence[M], codec: AvroCodec, schema: AvroSchema, *, now_ms: int
) -> tuple[list[tuple[M, dict[str, Any]]], list[DeadLetterMessage]]:
    """Decode ``messages`` (plain Avro bodies), each with its own topic's fingerprint; return the
    decoded ``(message, value)`` pairs and the dead letters of the rest."""
    by_topic: dict[str, list[M]] = {}
    for message in messages:
        by_topic.setdefault(message.topic() or "", []).append(message)
    decoded: list[tuple[M, dict[str, Any]]] = []
    dead: list[DeadLetterMessage] = []
    for topic, batch in by_topic.items():
        ok, undecodable = decode_batch(batch, codec, schema, topic, now_ms=now_ms, plain=True)
        decoded.extend(ok)
        dead.extend(undecodable)
    return decoded, dead


async def retry_until_done(
    work: Callable[[], Awaitable[T]],
    *,
    retriable: tuple[type[BaseException], ...],
    backoff: Callable[[int], float],
    retries: Counter,
    what: str,
    log: logging.Logger,
) -> tuple[T, int]:
    """``work()``'s result and the number of attempts it took; a ``retriable`` failure is counted
    in ``retries{reason}``, logged, and retried after ``backoff(attempt)`` seconds, or after its
    ``retry_after`` when that is longer."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await work(), attempt
        except retriable as exc:
            delay = max(backoff(attempt), getattr(exc, "retry_after", None) or 0.0)
            retries.labels(reason=type(exc).__name__).inc()
            log.warning("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
