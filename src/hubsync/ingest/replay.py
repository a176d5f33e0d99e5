"""``hubsync replay``: re-apply the field mappings from the change log in Kafka.

The ``hubspot.*.changes`` topics are the change log. Replay reads them from the beginning (or
from a time) up to where they end when it starts, with a consumer of its own that commits
nothing (the worker's group is untouched), and runs every batch through the same
:class:`~hubsync.ingest.processor.IngestProcessor` as the worker, in replay mode:

* the mirrored values do not move: the replayed events are the ones already applied, so the
  version guards make them no-ops (a change the worker has not applied yet is applied, as the
  worker would);
* autofill and overwrite run again for every linked record the log names, against the current
  mappings and the cached HubSpot property definitions, so a mapping changed since (``hubsync
  settings``) takes effect for records pulled before; the values they decide go to the outbox.
  Values already written are not decided twice (the platform holds them), so replaying twice
  changes nothing more.

HubSpot is not called: definitions come from the cache (and HubSpot's built-in definitions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from hubsync.ingest.apply import BatchResult
from hubsync.ingest.processor import IngestProcessor, add_results
from hubsync.streams.connection import KafkaConnection, as_connection

#: messages per batch handed to the processor
REPLAY_BATCH = 2_000


@dataclass(slots=True)
class ReplayReport:
    messages: int = 0
    dead_letters: int = 0
    result: BatchResult = field(default_factory=BatchResult)


def _ends(
    consumer: Consumer, topics: Sequence[str], since: datetime | None
) -> list[tuple[TopicPartition, int]]:
    """Each partition with its start (beginning or the first offset at ``since``) and its end now."""
    out: list[tuple[TopicPartition, int]] = []
    metadata = consumer.list_topics(timeout=10)
    for topic in topics:
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise ValueError(f"topic {topic} does not exist")
        for partition in sorted(info.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            start = TopicPartition(topic, partition, OFFSET_BEGINNING)
            if since is not None:
                [found] = consumer.offsets_for_times(
                    [TopicPartition(topic, partition, int(since.timestamp() * 1000))], timeout=10
                )
                start = TopicPartition(topic, partition, found.offset if found.offset >= 0 else high)
            if high > low and (start.offset < 0 or start.offset < high):
                out.append((start, high))
    return out


async def replay(
    processor: IngestProcessor,
    kafka: KafkaConnection | str,
    topics: Sequence[str],
    *,
    since: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Replay ``topics`` through ``processor`` (built with ``replay=True``) up to their current end."""
    consumer = Consumer(
        as_connection(kafka).client_config(
            **{
                "group.id": f"hubsync-replay-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
            }
        )
    )
    report = ReplayReport()
    try:
        ranges = _ends(consumer, topics, since)
        total = sum(high - max(start.offset, 0) for start, high in ranges)
        if progress is not None:
            progress(0, total)
        if not ranges:
            return report
        ends = {(start.topic, start.partition): high for start, high in ranges}
        consumer.assign([start for start, _ in ranges])
        while ends:
            batch: list[Any] = []
            for message in consumer.consume(num_messages=REPLAY_BATCH, timeout=1.0):
                error = message.error()
                if error is not None:
                    raise RuntimeError(f"replay: consumer error {error.str()}")
                topic, partition, offset = (
                    message.topic() or "",
                    message.partition() or 0,
                    message.offset() or 0,
                )
                end = ends.get((topic, partition))
                if end is None or offset >= end:
                    continue
                batch.append(message)
                if offset >= end - 1:
                    del ends[(topic, partition)]
                    consumer.incremental_unassign([TopicPartition(topic, partition)])
            if not batch:
                continue
            done = await processor.process(batch)
            report.messages += done.messages
            report.dead_letters += done.dead_letters
            add_results(report.result, done.result)
            if progress is not None:
                progress(report.messages, total)
    finally:
        consumer.close()
    return report
