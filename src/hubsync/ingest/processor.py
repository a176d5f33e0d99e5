"""The ingest batch processor: raw Kafka messages in, PostgreSQL committed, ``crm.*`` and DLQ out.

Framework-free, so the Faust agents (:mod:`hubsync.ingest.agents`), ``hubsync replay`` and the
tests share it. For one batch, :meth:`IngestProcessor.process`:

1. decodes every message (undecodable ones become ``DECODE`` dead letters, invalid ones
   ``VALIDATE``);
2. applies the rest in one PostgreSQL transaction (:func:`hubsync.ingest.apply.apply_batch`) and
   commits. A retriable failure (database unavailable, deadlock, a concurrent insert of the same
   record) rolls back and retries the whole batch with backoff, for as long as it takes; any other
   failure is isolated: each event is then applied in its own transaction and only the ones that
   still fail become ``APPLY`` dead letters;
3. publishes the dead letters and the canonical records of every record the batch named (not
   only the changed ones: a redelivery after a crash between commit and publish must publish
   them again) and waits for Kafka's acknowledgement.

Only when :meth:`process` returns may the caller commit the batch's offsets: at-least-once,
with idempotent effects (the version guards make a re-applied batch a no-op).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool

from hubsync._runtime.crashpoints import crash_point
from hubsync.avro.codec import AvroCodec
from hubsync.backoff import Backoff
from hubsync.errors import RetriableError
from hubsync.ingest.apply import BatchResult, IngestContext, apply_batch
from hubsync.ingest.events import ChangeEvent, change_event
from hubsync.ingest.metrics import IngestMetrics
from hubsync.ingest.record_io import MAX_RECORD_LOCKS
from hubsync.ingest.statistics import StatisticsKeeper
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.records.kinds import ObjectKind
from hubsync.storage.canonical import (
    canonical_account_values,
    canonical_contact_values,
    crm_key,
    lock_canonical,
    publishes_canonical,
)
from hubsync.storage.config_versions import (
    forget_gone_workers,
    mapping_version,
    new_worker_id,
    record_worker_context,
)
from hubsync.storage.portal_scope import SINGLE_PORTAL, PortalRouting, current_portal, group_by_portal
from hubsync.storage.retriable import RETRIABLE_DB_ERRORS
from hubsync.streams.consumer import decode_by_topic, retry_until_done
from hubsync.streams.decode import KafkaRecord, dead_letter_for
from hubsync.streams.dlq import DeadLetterMessage, DeadLetterPublisher, FailureStage, now_ms
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage

log = logging.getLogger(__name__)

CHANGE_EVENT_SCHEMA = "hubspot_change_event"
CRM_SCHEMAS: Mapping[ObjectKind, str] = {"contact": "crm_contact", "account": "crm_account"}
#: each kind's canonical read, as the crm schema's field values
CANONICAL_VALUES = {"contact": canonical_contact_values, "account": canonical_account_values}
#: how long a failed batch waits before it is applied again
INGEST_BACKOFF = Backoff(base_s=0.5, max_s=30.0)
_RETRIABLE: tuple[type[BaseException], ...] = (RetriableError, *RETRIABLE_DB_ERRORS)


@dataclass(frozen=True, slots=True)
class IngestTopics:
    """Source topic -> object kind, and object kind -> canonical ``crm.*`` topic."""

    sources: Mapping[str, ObjectKind]
    crm: Mapping[ObjectKind, str]


@dataclass(slots=True)
class BatchReport:
    """What one :meth:`IngestProcessor.process` call did."""

    messages: int = 0
    dead_letters: int = 0
    result: BatchResult = field(default_factory=BatchResult)
    canonical_published: int = 0
    attempts: int = 1


class ContextCache:
    """Each portal's field mappings and property definitions, re-read from PostgreSQL every
    ``ttl_s`` seconds, so ``hubsync settings`` changes and definition refreshes reach running workers.

    A portal's context is loaded when a batch of its events needs it (in the batch's transaction,
    with the portal entered), so a worker serving thousands of portals reads only the ones it is
    sent. Loading only reads: with a ``worker_id``, :meth:`refresh` (the agents call it on a timer,
    in a short transaction of its own) records the mapping version this worker now applies in
    ``hubsync.worker_contexts``, which ``hubsync settings set mapping...`` waits for and
    ``hubsync status`` shows. Recording it from a batch would make every batch of the worker wait
    for the row lock of the others' (a backfill batch's transaction lasts a while)."""

    def __init__(
        self,
        *,
        replay: bool = False,
        ttl_s: float = 5.0,
        worker_id: str | None = None,
        max_locks: int = MAX_RECORD_LOCKS,
    ) -> None:
        self.replay = replay
        self.max_locks = max_locks
        self.ttl_s = ttl_s
        self.worker_id = worker_id
        #: the mapping version of the last load (0: none loaded yet)
        self.version = 0
        self._recorded: int | None = None
        self._contexts: dict[int | None, tuple[IngestContext, float]] = {}

    def get(self, conn: psycopg.Connection[Any], portal: int | None = None) -> IngestContext:
        """The context of ``portal`` (None: the connection's own), which ``conn`` works in."""
        now = time.monotonic()
        cached = self._contexts.get(portal)
        if cached is not None and now - cached[1] <= self.ttl_s:
            return cached[0]
        self.version = mapping_version(conn)
        context = IngestContext(
            mappings=load_mappings(conn),
            definitions={kind: effective_definitions(conn, kind) for kind in ("contact", "account")},
            replay=self.replay,
            max_locks=self.max_locks,
        )
        self._contexts[portal] = (context, now)
        return context

    def refresh(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        """Reload the connection's own portal if due and say which mapping version this worker
        applies, outside any batch (committed at once)."""
        with pool.connection() as conn:
            self.get(conn)
            if self.worker_id is not None:
                if self._recorded is None:  # this worker's first record: drop rows of workers long gone
                    forget_gone_workers(conn)
                record_worker_context(
                    conn, self.worker_id, self.version, loaded=self.version != self._recorded
                )
                self._recorded = self.version
            conn.commit()


class IngestProcessor:
    """Applies batches of ``hubspot.*.changes`` messages; see the module docstring."""

    #: how much longer than the publisher's own delivery timeout a batch's thread waits for its
    #: canonical records to be published before it gives up (retriably)
    publish_margin_s = 30.0

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        codec: AvroCodec,
        publisher: AsyncKafkaPublisher,
        dlq: DeadLetterPublisher,
        topics: IngestTopics,
        metrics: IngestMetrics,
        *,
        replay: bool = False,
        publish_canonical: bool = True,
        backoff: Callable[[int], float] | None = None,
        routing: PortalRouting = SINGLE_PORTAL,
        max_locks: int = MAX_RECORD_LOCKS,
    ) -> None:
        self.pool = pool
        self.codec = codec
        self.publisher = publisher
        self.dlq = dlq
        self.topics = topics
        self.metrics = metrics
        self.publish_canonical = publish_canonical
        self.routing = routing
        self.contexts = ContextCache(
            replay=replay, worker_id=None if replay else new_worker_id("ingest"), max_locks=max_locks
        )
        self.statistics = StatisticsKeeper(pool)
        self.backoff = backoff or INGEST_BACKOFF
        self._event_schema = codec.repository.current(CHANGE_EVENT_SCHEMA)
        self._crm_schemas = {kind: codec.repository.current(stem) for kind, stem in CRM_SCHEMAS.items()}

    # -- decoding ---------------------------------------------------------------------------

    def decode(
        self, messages: Sequence[KafkaRecord]
    ) -> tuple[list[tuple[KafkaRecord, ChangeEvent]], list[DeadLetterMessage]]:
        """Decoded events in delivery order, and the dead letters of the rest."""
        failed_at = now_ms()
        decoded, dead = decode_by_topic(messages, self.codec, self._event_schema, now_ms=failed_at)
        events: list[tuple[KafkaRecord, ChangeEvent]] = []
        for message, value in decoded:
            topic = message.topic() or ""
            kind = self.topics.sources.get(topic)
            try:
                event = change_event(value)
                if kind is not None and event.kind != kind:
                    raise ValueError(f"a {event.kind} event on the {kind} topic {topic}")
            except (KeyError, TypeError, ValueError) as exc:
                dead.append(
                    dead_letter_for(message, FailureStage.VALIDATE, exc, now_ms=failed_at, topic=topic)
                )
            else:
                events.append((message, event))
        return events, dead

    # -- applying ---------------------------------------------------------------------------

    def _by_portal(self, events: Sequence[ChangeEvent]) -> dict[int | None, list[ChangeEvent]]:
        return group_by_portal(events, lambda e: self.routing.portal_of(e.portal_id))

    def _enter(self, conn: psycopg.Connection[Any], portal: int | None) -> IngestContext:
        self.routing.enter(conn, portal)
        return self.contexts.get(conn, portal)

    def _apply_all(self, events: Sequence[ChangeEvent]) -> dict[int | None, BatchResult]:
        """One transaction for the batch; each portal's events applied with that portal entered."""
        results: dict[int | None, BatchResult] = {}
        with self.pool.connection() as conn, conn.transaction():
            if self.publish_canonical:
                publishes_canonical(conn)
            for portal, group in self._by_portal(events).items():
                results[portal] = apply_batch(conn, group, self._enter(conn, portal))
            crash_point("ingest.before_commit")
        self.statistics.note(sum(r.created for r in results.values()))
        return results

    def _apply_isolated(
        self, events: Sequence[tuple[KafkaRecord, ChangeEvent]]
    ) -> tuple[dict[int | None, BatchResult], list[DeadLetterMessage]]:
        """Apply one event per transaction; the ones that fail (not retriably) become dead letters."""
        totals: dict[int | None, BatchResult] = {}
        dead: list[DeadLetterMessage] = []
        with self.pool.connection() as conn:
            for message, event in events:
                portal = self.routing.portal_of(event.portal_id)
                try:
                    with conn.transaction():
                        if self.publish_canonical:
                            publishes_canonical(conn)
                        result = apply_batch(conn, [event], self._enter(conn, portal))
                except RETRIABLE_DB_ERRORS:
                    raise
                except Exception as exc:  # a record this code cannot apply: park it, go on
                    log.warning("change event %s could not be applied: %s", event.event_id, exc)
                    dead.append(dead_letter_for(message, FailureStage.APPLY, exc, now_ms=now_ms()))
                    continue
                add_results(totals.setdefault(portal, BatchResult()), result)
        return totals, dead

    def _apply(
        self, events: Sequence[tuple[KafkaRecord, ChangeEvent]]
    ) -> tuple[dict[int | None, BatchResult], list[DeadLetterMessage]]:
        if not events:
            return {}, []
        try:
            return self._apply_all([e for _, e in events]), []
        except RETRIABLE_DB_ERRORS:
            raise
        except Exception as exc:
            log.warning("batch of %d events failed (%s); applying them one by one", len(events), exc)
            return self._apply_isolated(events)

    def _commit(
        self, events: Sequence[tuple[KafkaRecord, ChangeEvent]]
    ) -> tuple[dict[int | None, BatchResult], list[DeadLetterMessage]]:
        """Apply and commit ``events``; their dead letters, and what each portal's part did."""
        results, dead = self._apply(events)
        crash_point("ingest.after_commit")
        committed = time.time()
        self.metrics.commit_latency.observe_many(
            max(0.0, committed - e.received_at / 1000) for _, e in events
        )
        self.metrics.last_commit.set(committed)
        return results, dead

    def _publish_canonical_in_order(
        self, results: Mapping[int | None, BatchResult], loop: asyncio.AbstractEventLoop
    ) -> int:
        """Read, encode and publish the canonical records of every record the batch named, holding
        each portal's canonical lock (:func:`~hubsync.storage.canonical.lock_canonical`) from the
        read until Kafka acknowledged them: records reach ``crm.*`` in the order they were read,
        whatever the other consumers and workers publish meanwhile. Runs in the batch's thread; the
        messages are sent by ``loop``, the one :meth:`process` runs in.

        A transaction locks at most ``max_locks`` portals (a batch of the public app may name
        thousands; each lock takes a slot of the server's lock table), in id order."""
        touched = {p: r.touched for p, r in results.items() if any(r.touched.values())}
        if not touched:
            return 0
        published = 0
        with self.pool.connection() as conn:
            home: int | None = None
            if None in touched and len(touched) > 1:  # None is the home portal: its lock's place
                with conn.transaction():
                    home = current_portal(conn)
            for group in canonical_lock_order(list(touched), home, max(1, self.contexts.max_locks)):
                canonical: list[tuple[ObjectKind, tuple[Any, ...]]] = []
                with conn.transaction():
                    for portal in group:
                        self.routing.enter(conn, portal)
                        lock_canonical(conn)
                        for kind, ids in touched[portal].items():
                            if ids:
                                read = CANONICAL_VALUES[kind]
                                canonical.extend((kind, values) for values in read(conn, sorted(ids)))
                    published += self._wait_published(self._encode_canonical(canonical), loop)
        return published

    def _wait_published(
        self, encoded: Mapping[str, Sequence[EncodedMessage]], loop: asyncio.AbstractEventLoop
    ) -> int:
        """Have ``loop`` publish ``encoded`` and wait for Kafka's acknowledgement, in this thread."""
        sent = asyncio.run_coroutine_threadsafe(self._publish_canonical(encoded), loop)
        try:
            # every topic's messages go at once and the publisher gives up by itself after its
            # delivery timeout; the margin bounds a loop that no longer runs the coroutine. A
            # cancelled publish (the process stopping) raises CancelledError: the batch stops,
            # uncommitted, and is redelivered
            return sent.result(self.publisher.config.delivery_timeout_s + self.publish_margin_s)
        except TimeoutError:
            sent.cancel()
            raise RetriableError("the canonical records were not published in time") from None

    # -- the batch --------------------------------------------------------------------------

    async def process(
        self, messages: Sequence[KafkaRecord], *, executor: Executor | None = None
    ) -> BatchReport:
        """Apply ``messages``; returns once their effects are durable (PostgreSQL and Kafka). The
        work runs in ``executor`` (None: the event loop's default one), off the event loop: it serves
        the webhook receiver, the other lanes and the agents meanwhile."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        events, dead = await loop.run_in_executor(executor, self.decode, messages)

        async def attempt() -> tuple[BatchResult, list[DeadLetterMessage], int]:
            results, apply_dead = await loop.run_in_executor(executor, self._commit, events)
            letters = dead + apply_dead
            await self.dlq.publish(letters)
            published = 0
            if self.publish_canonical:
                published = await loop.run_in_executor(
                    executor, self._publish_canonical_in_order, results, loop
                )
            result = BatchResult()
            for part in results.values():
                add_results(result, part)
            return result, letters, published

        (result, letters, published), attempts = await retry_until_done(
            attempt,
            retriable=_RETRIABLE,
            backoff=self.backoff,
            retries=self.metrics.retries,
            what="ingest batch",
            log=log,
        )
        self._record(messages, events, letters, result, time.monotonic() - started)
        return BatchReport(len(messages), len(letters), result, published, attempts)

    def _encode_canonical(
        self, canonical: Sequence[tuple[ObjectKind, tuple[Any, ...]]]
    ) -> dict[str, list[EncodedMessage]]:
        """The ``crm.*`` messages of ``canonical`` (each record its schema's field values, the
        record id first) by topic, encoded in the worker thread, not on the event loop."""
        out: dict[str, list[EncodedMessage]] = {}
        for kind, values in canonical:
            topic = self.topics.crm[kind]
            encoded = self.codec.encode_fields(topic, self._crm_schemas[kind], values)
            out.setdefault(topic, []).append(EncodedMessage(crm_key(values[0]), encoded))
        return out

    async def _publish_canonical(self, canonical: Mapping[str, Sequence[EncodedMessage]]) -> int:
        """Publish every topic's messages at once (one delivery timeout for all); how many."""
        sent = await asyncio.gather(
            *(self.publisher.publish(topic, messages) for topic, messages in canonical.items())
        )
        return sum(sent)

    def _record(
        self,
        messages: Sequence[KafkaRecord],
        events: Sequence[tuple[KafkaRecord, ChangeEvent]],
        letters: Sequence[DeadLetterMessage],
        result: BatchResult,
        seconds: float,
    ) -> None:
        m = self.metrics
        m.batch_seconds.observe(seconds)
        m.batch_size.observe(len(messages))
        per_topic: dict[str, int] = {}
        for message, _ in events:
            topic = message.topic() or ""
            per_topic[topic] = per_topic.get(topic, 0) + 1
        applied_left = result.applied
        for topic, count in per_topic.items():
            applied = min(count, applied_left)
            applied_left -= applied
            m.events.labels(topic=topic, outcome="applied").inc(applied)
            m.events.labels(topic=topic, outcome="unchanged").inc(count - applied)
        for letter in letters:
            m.events.labels(topic=letter.source_topic, outcome="dlq").inc()
        # an agent consumes one topic, so a batch is of one object kind
        kinds = {self.topics.sources.get(t) for t in per_topic} - {None}
        kind = str(kinds.pop()) if len(kinds) == 1 else "mixed"
        if result.duplicates_flagged:
            m.duplicates_flagged.labels(object_type=kind).inc(result.duplicates_flagged)
        for rule, count in (
            ("autofill", result.autofills),
            ("overwrite", result.overwrites),
            ("rejected", result.rejected_values),
        ):
            if count:
                m.mapped_values.labels(object_type=kind, rule=rule).inc(count)


def canonical_lock_order(
    portals: Sequence[int | None], home: int | None, per_transaction: int
) -> list[list[int | None]]:
    """The portals of a batch's canonical records in the order their locks are taken, in groups
    of at most ``per_transaction`` (one transaction each). None, the connection's own portal, is
    placed as ``home``, the portal whose lock it takes: every transaction takes its locks in
    ascending order of the portals they belong to, so no two can wait for each other."""
    ordered = sorted(portals, key=lambda p: (home if p is None else p) or 0)
    return [ordered[i : i + per_transaction] for i in range(0, len(ordered), per_transaction)]


def add_results(total: BatchResult, part: BatchResult) -> None:
    """Add ``part``'s counts and touched ids to ``total``."""
    total.events += part.events
    total.applied += part.applied
    total.created += part.created
    total.duplicates_flagged += part.duplicates_flagged
    total.autofills += part.autofills
    total.overwrites += part.overwrites
    total.rejected_values += part.rejected_values
    total.outbox_events += part.outbox_events
    for kind, ids in part.touched.items():
        total.touched[kind].update(ids)
