"""Batches of raw messages straight from librdkafka, for the hot path (the ingest lanes).

Faust's agent loop costs about 80 µs of interpreter time per message (its per-message dispatch, the
stream's channel, the per-message acknowledgement; ``python -m bench.consumer_overhead``), the whole
of ingest's per-event budget; librdkafka's ``consume()`` costs 2 µs. :class:`KafkaBatchConsumer` is
the loop the ingest lanes use instead, with Faust's guarantees:

* at-least-once: a batch's offsets are committed (synchronously) only after ``process`` returned,
  its effects durable; a crash before that redelivers the batch;
* rebalances happen between batches only: librdkafka calls the assignment callbacks inside
  ``consume()``, which is never called while a batch is being processed, so a partition is never
  taken away mid-batch. A batch whose partitions were lost meanwhile (the processing outlasted
  ``max.poll.interval.ms``) is not committed: its partitions' new owner applies it again, which the
  version guards make a no-op. A commit that fails transiently (the group's coordinator moving, a
  request timed out) is asked again for up to a minute (:func:`commit_outcome`); one that keeps failing,
  or fails otherwise, fails the lane with the batch uncommitted;
* a partition this group never committed starts where ``seed_group`` (the Faust group that consumed
  these topics before) committed it, so an upgrade neither replays nor skips history; without
  either, at the partition's beginning.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, TopicPartition

from hubsync.backoff import Backoff
from hubsync.streams.connection import KafkaConnection
from hubsync.streams.lag import committed_by, committed_offsets

log = logging.getLogger(__name__)

#: commit failures that mean "these partitions are no longer yours": the batch is redelivered to
#: their new owner, and this consumer goes on (its next ``consume()`` rejoins the group)
_LOST_ASSIGNMENT = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._STATE,
    }
)
#: commit failures a later attempt may not meet: the group's coordinator moving or loading, a request
#: or a connection lost on the way (librdkafka waits out most coordinator moves itself)
_TRANSIENT = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError._WAIT_COORD,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)
#: how a failed commit is asked again: for this long at most, then the lane fails (and the worker
#: stops, its batch uncommitted: redelivered, a no-op under the version guards)
COMMIT_RETRY = Backoff(base_s=0.2, max_s=5.0)
COMMIT_RETRY_FOR_S = 60.0

CommitOutcome = Literal["lost", "retry", "fail"]


def commit_outcome(error: KafkaError) -> CommitOutcome:
    """What a failed offset commit means: ``lost`` (the partitions moved to another member: leave
    the batch to it), ``retry`` (a transient failure: ask again), ``fail`` (anything else: authorization,
    a fatal client error)."""
    if error.fatal():
        return "fail"
    if error.code() in _LOST_ASSIGNMENT:
        return "lost"
    if error.code() in _TRANSIENT or error.retriable():
        return "retry"
    return "fail"


@dataclass(frozen=True, slots=True)
class BatchConsumerConfig:
    """One consumer group's loop: its topics, batch bounds and group timings."""

    group: str
    topics: tuple[str, ...]
    #: at most this many messages per batch ...
    batch_max: int
    #: ... or what arrived within this long
    batch_wait_s: float
    #: where a partition this group has not committed starts: this group's committed offset
    seed_group: str | None = None
    #: a killed worker's partitions move to the others after this long
    session_timeout_s: float = 10.0
    heartbeat_interval_s: float = 3.0
    #: a member that has not asked for a batch for this long leaves the group (its batch is then
    #: applied again by the partitions' new owner); PostgreSQL away longer than this costs a rebalance
    max_poll_interval_s: float = 600.0
    #: what librdkafka fetches ahead per consumer (its default, 64 MiB, made up a quarter of a
    #: worker's memory); 8 MiB holds several batches of change events
    prefetch_kbytes: int = 8_192


class KafkaBatchConsumer:
    """A confluent-kafka consumer in ``config.group``, consumed in batches (see the module docstring).

    :meth:`poll_batch` and :meth:`commit` block; :func:`run_batches` calls them off the event loop.
    """

    def __init__(self, kafka: KafkaConnection, config: BatchConsumerConfig, *, client_id: str) -> None:
        self.config = config
        self._kafka = kafka
        self._consumer = Consumer(
            kafka.client_config(
                **{
                    "group.id": config.group,
                    "client.id": client_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": int(config.session_timeout_s * 1000),
                    "heartbeat.interval.ms": int(config.heartbeat_interval_s * 1000),
                    "max.poll.interval.ms": int(config.max_poll_interval_s * 1000),
                    "queued.max.messages.kbytes": config.prefetch_kbytes,
                }
            )
        )
        self._lock = threading.Lock()
        self._assigned: frozenset[tuple[str, int]] = frozenset()
        self._joined = False
        self._closed = False

    # -- the group --------------------------------------------------------------------------

    def subscribe(self) -> None:
        self._consumer.subscribe(
            list(self.config.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            closing = self._closed
        if closing:
            # a rebalance served by close() itself: the consumer leaves and reads nothing more, so
            # nothing is seeded (asking a closing consumer for offsets blocked close for 30 s)
            consumer.assign(partitions)
            return
        carried: list[TopicPartition] = []
        if partitions and self.config.seed_group is not None:
            carried = self._seed(consumer, partitions, self.config.seed_group)
        consumer.assign(partitions)
        if carried:  # this group's own from now on: its lag reads right before its first batch
            consumer.commit(offsets=carried, asynchronous=False)
        with self._lock:
            self._assigned = frozenset((tp.topic, tp.partition) for tp in partitions)
            self._joined = True
        log.info("%s: %d partition(s) assigned", self.config.group, len(partitions))

    def _on_revoke(self, consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned = frozenset()
            self._joined = False
        consumer.unassign()

    def _seed(
        self, consumer: Consumer, partitions: list[TopicPartition], seed_group: str
    ) -> list[TopicPartition]:
        """Start each of ``partitions`` this group never committed at ``seed_group``'s offset;
        returns the offsets so carried over."""
        own = {(tp.topic, tp.partition): tp.offset for tp in committed_by(consumer, partitions, 30.0)}
        fresh = [tp for tp in partitions if own.get((tp.topic, tp.partition), OFFSET_INVALID) < 0]
        if not fresh:
            return []
        seeds = {
            (tp.topic, tp.partition): tp.offset
            for tp in committed_offsets(self._kafka, seed_group, fresh)
            if tp.offset >= 0
        }
        carried = []
        for tp in fresh:
            offset = seeds.get((tp.topic, tp.partition))
            if offset is not None:
                tp.offset = offset
                carried.append(TopicPartition(tp.topic, tp.partition, offset))
                log.info(
                    "%s: %s[%d] starts at %s's offset %d",
                    self.config.group,
                    tp.topic,
                    tp.partition,
                    seed_group,
                    offset,
                )
        return carried

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this consumer holds now."""
        with self._lock:
            return self._assigned

    def ready(self) -> str:
        """A health check: the consumer holds its assignment (which may be empty in a group with more
        members than partitions); raises while it has not joined or is between assignments."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.config.group}: the consumer is closed")
            if not self._joined:
                raise RuntimeError(f"{self.config.group}: the consumer has not joined its group")
            return f"{len(self._assigned)} partition(s) assigned"

    # -- batches ----------------------------------------------------------------------------

    def poll_batch(self) -> list[Message]:
        """Up to ``batch_max`` messages, or what arrived within ``batch_wait_s`` (maybe none)."""
        messages = self._consumer.consume(self.config.batch_max, self.config.batch_wait_s)
        out = []
        for message in messages:
            error = message.error()
            if error is None:
                out.append(message)
            elif error.fatal():
                raise KafkaException(error)
            else:  # a partition's fetch failed, say: librdkafka retries it
                log.warning("%s: %s", self.config.group, error)
        return out

    def commit(self, messages: Sequence[Message]) -> bool:
        """Commit past ``messages`` (every partition's highest offset plus one); false when the
        partitions were lost meanwhile, so the batch is left to their new owner. Transient failures are
        retried with backoff for up to :data:`COMMIT_RETRY_FOR_S`; any other raises."""
        ends: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (str(message.topic()), int(message.partition() or 0))
            ends[key] = max(ends.get(key, -1), int(message.offset() or 0) + 1)
        if not ends:
            return True
        offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
        deadline = time.monotonic() + COMMIT_RETRY_FOR_S
        attempt = 0
        while True:
            attempt += 1
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
                return True
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                outcome = commit_outcome(error) if isinstance(error, KafkaError) else "fail"
                if outcome == "lost":
                    log.warning(
                        "%s: batch not committed (%s); its partitions' new owner applies it",
                        self.config.group,
                        error,
                    )
                    return False
                delay = COMMIT_RETRY(attempt)
                if outcome == "fail" or time.monotonic() + delay > deadline:
                    raise
                log.warning("%s: commit failed (%s); retrying in %.1f s", self.config.group, error, delay)
                time.sleep(delay)

    def close(self) -> None:
        """Leave the group (its partitions move to the other members at once)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._consumer.close()


async def run_batches(
    consumer: KafkaBatchConsumer,
    process: Callable[[Sequence[Message]], Awaitable[object]],
    stopping: asyncio.Event,
    *,
    before_poll: Callable[[], Awaitable[None]] | None = None,
    executor: Executor | None = None,
) -> None:
    """Until ``stopping`` is set: a batch, ``process`` it, commit it. ``before_poll`` (awaited
    before each batch is asked for) lets a lane wait for its turn without holding a batch. The
    consumer's blocking calls run in ``executor`` (None: the event loop's default one)."""
    consumer.subscribe()
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        if before_poll is not None:
            await before_poll()
            if stopping.is_set():
                break
        messages = await loop.run_in_executor(executor, consumer.poll_batch)
        if not messages:
            continue
        await process(messages)
        await loop.run_in_executor(executor, consumer.commit, messages)
