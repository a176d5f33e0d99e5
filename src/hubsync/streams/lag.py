"""Consumer lag measured from what a partition really holds, not only what the broker says.

Lag is the end offset of a partition minus the offset the consumer group committed. Apache Kafka's
end offset (the high watermark) is exact. The embedded dev broker (Tansu) reports the first offset
of a partition's last record batch plus one instead: a batch of 500 messages shows as one, and a
group that committed past it shows no lag at all. So the end offset is also measured: the last batch
is read from the reported end minus one, and the end is one past the highest offset found there.
Where the two differ, :attr:`PartitionLag.broker_end_trusted` is false and ``hubsync status`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from hubsync.streams.connection import KafkaConnection, as_connection

#: how long the last batches of a topic's partitions may take to read
READ_TAIL_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    #: the group's committed offset (None: nothing committed yet)
    committed: int | None
    #: the end offset the broker reported (its high watermark)
    reported_end: int
    #: the end offset measured by reading the partition's last batch
    end: int
    #: the partition's first offset
    start: int

    @property
    def broker_end_trusted(self) -> bool:
        return self.reported_end == self.end

    @property
    def lag(self) -> int:
        """Messages after the committed offset (all of them when nothing was committed)."""
        return max(0, self.end - (self.start if self.committed is None else self.committed))


def partition_lags(
    kafka: KafkaConnection | str,
    group: str,
    topics: Sequence[str],
    *,
    timeout: float = 10.0,
    only: Collection[tuple[str, int]] | None = None,
) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topics`` (topics that do not exist are left out),
    or on the ``(topic, partition)`` pairs of ``only`` among them."""
    probe = Consumer(
        as_connection(kafka).client_config(
            **{"group.id": group, "enable.auto.commit": False, "enable.partition.eof": True}
        )
    )
    try:
        metadata = probe.list_topics(timeout=timeout)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            if (info := metadata.topics.get(topic)) is not None and info.error is None
            for p in sorted(info.partitions)
            if only is None or (topic, p) in only
        ]
        if not partitions:
            return []
        committed = {(tp.topic, tp.partition): tp.offset for tp in committed_by(probe, partitions, timeout)}
        marks = {
            (tp.topic, tp.partition): probe.get_watermark_offsets(tp, timeout=timeout) for tp in partitions
        }
        ends = _read_ends(probe, marks)
    finally:
        probe.close()
    out = []
    for tp in partitions:
        key = (tp.topic, tp.partition)
        low, high = marks[key]
        offset = committed.get(key, -1)
        out.append(
            PartitionLag(
                tp.topic, tp.partition, offset if offset >= 0 else None, high, ends.get(key, high), low
            )
        )
    return out


def committed_offsets(
    kafka: KafkaConnection | str, group: str, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
) -> list[TopicPartition]:
    """``group``'s committed offsets of ``partitions`` (an offset below 0: none committed)."""
    probe = Consumer(as_connection(kafka).client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        return committed_by(probe, [TopicPartition(tp.topic, tp.partition) for tp in partitions], timeout)
    finally:
        probe.close()


def committed_by(
    consumer: Consumer, partitions: list[TopicPartition], timeout: float
) -> list[TopicPartition]:
    """The committed offsets of ``consumer``'s group, asked again while the broker answers with a
    retriable error (a new group's coordinator still loading: NOT_COORDINATOR,
    COORDINATOR_LOAD_IN_PROGRESS)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return list(consumer.committed(partitions, timeout=max(0.1, deadline - time.monotonic())))
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (isinstance(error, KafkaError) and error.retriable()) or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _read_ends(probe: Consumer, marks: dict[tuple[str, int], tuple[int, int]]) -> dict[tuple[str, int], int]:
    """One past the highest offset in each non-empty partition's last batch (read from end - 1)."""
    wanted = {key: high for key, (low, high) in marks.items() if high > low}
    if not wanted:
        return {}
    probe.assign([TopicPartition(t, p, high - 1) for (t, p), high in wanted.items()])
    ends = dict(wanted)
    open_partitions = set(wanted)
    deadline = time.monotonic() + READ_TAIL_TIMEOUT_S
    while open_partitions and time.monotonic() < deadline:
        message = probe.poll(0.2)
        if message is None:
            continue
        key = (str(message.topic()), int(message.partition() or 0))
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard(key)
            continue
        offset = message.offset()
        if offset is not None and key in ends:
            ends[key] = max(ends[key], int(offset) + 1)
    return ends
