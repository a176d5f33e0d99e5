"""The outbox relay: the outbox rows of every portal (``hubsync.outbox_all``) to
``platform.contacts.changes`` / ``platform.accounts.changes``, each message carrying its portal.

* **Order.** Unpublished rows (``published_at IS NULL``) are read in ``seq`` order, at most
  :attr:`RelayConfig.batch_size` per round, and sent through one idempotent producer keyed by the
  record id (so a record's rows land on one partition, in order). A round is acknowledged by Kafka
  before the next one is read. There is no high-water mark: a row whose transaction commits late
  (a lower ``seq`` than rows already sent) is picked up by the next round.
* **At-least-once.** ``published_at`` is set only after Kafka acknowledged the whole round; a crash
  or a failed round sends it again. Subscribers dedupe on ``event_id`` (the outbox row's ``id``,
  also the ``id`` header).
* **Wake-up.** ``LISTEN hubsync_outbox`` (the insert trigger notifies at commit) with a polling
  fallback every :attr:`RelayConfig.poll_interval_s`, since notifications sent while the relay was
  disconnected are lost.
* **One active relay.** The relay takes a session-level advisory lock on the connection it works
  on; another relay stands by, retrying every :attr:`RelayConfig.standby_interval_s`, and takes
  over when the lock is released (the holder stopped, or its connection died).
* **Bad rows.** A row that does not make a ``PlatformChangeEvent`` goes to the DLQ (stage
  ``VALIDATE``, source topic ``hubsync.outbox``, offset = ``seq``) and is marked published, so it
  does not hold up the rows behind it.
* **Canonical records.** For the rows of platform-side changes (created, updated, deleted, merged,
  enriched) the records' canonical ``crm.contacts`` / ``crm.accounts`` values are published in the
  same round, after the changes: a record made in the platform is on ``crm.*`` as soon as it is
  written, and a deletion shows there (``deleted_at``), without waiting for HubSpot's echo.
  After the outbox, the records whose duplicate pairs changed outside ingest are published again
  (:mod:`hubsync.push.republish`).
* **Retention.** Published rows older than :attr:`RelayConfig.retention` are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from psycopg.rows import dict_row

from hubsync._runtime.crashpoints import crash_point
from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.backoff import Backoff, BackoffSchedule
from hubsync.errors import RetriableError
from hubsync.metrics import PerRegistry
from hubsync.push.republish import delete_republished, fetch_republish, wanted_by_portal
from hubsync.settings import Settings, require_database_url
from hubsync.storage.canonical import acanonical_accounts, acanonical_contacts, alock_canonical, crm_key
from hubsync.storage.outbox import InvalidOutboxPayloadError, payload_to_avro
from hubsync.storage.portal_scope import enter_portal_async, group_by_portal
from hubsync.streams.connection import kafka_connection
from hubsync.streams.dlq import DeadLetterMessage, DeadLetterPublisher, FailureStage, dead_letter, now_ms
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "hubsync_outbox"
#: the session advisory lock only one relay holds ("hsrelay" as a number)
RELAY_LOCK_KEY = int.from_bytes(b"hsrelay", "big")
#: ``source_topic`` of the relay's dead letters (the outbox table; ``source_offset`` is ``seq``)
OUTBOX_SOURCE = "hubsync.outbox"
HEADER_ID = "id"
HEADER_TYPE = "type"
PLATFORM_SCHEMA = "platform_change_event"


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """How the relay batches, waits, stands by, retries and cleans up (seconds for durations)."""

    batch_size: int = 500
    poll_interval_s: float = 5.0
    standby_interval_s: float = 2.0
    #: published rows older than this are deleted; None keeps them
    retention: timedelta | None = timedelta(days=7)
    cleanup_interval_s: float = 3600.0
    cleanup_chunk: int = 10_000
    publish_timeout_s: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: int = 10
    application_name: str = "hubsync-relay"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.poll_interval_s <= 0 or self.standby_interval_s <= 0:
            raise ValueError("poll_interval_s and standby_interval_s must be positive")

    def connection_kwargs(self) -> dict[str, Any]:
        """libpq options: keepalives, so a relay whose peer vanished loses its lock in about a minute."""
        return {
            "autocommit": True,
            "application_name": self.application_name,
            "connect_timeout": self.connect_timeout_s,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }


@dataclass(frozen=True, slots=True)
class RelayTopics:
    """The topic of each ``aggregatetype``, and the canonical ``crm.*`` topics (None: the relay
    publishes no canonical records)."""

    contact: str
    account: str
    crm_contact: str | None = None
    crm_account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayTopics:
        t = settings.topics
        return cls(
            contact=t.platform_contacts,
            account=t.platform_accounts,
            crm_contact=t.crm_contacts,
            crm_account=t.crm_accounts,
        )

    def for_aggregate(self, aggregatetype: str) -> str | None:
        return {"contact": self.contact, "account": self.account}.get(aggregatetype)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: uuid.UUID
    seq: int
    aggregatetype: str
    aggregateid: str
    type: str
    payload: Any
    created_at: datetime
    #: the portal of the row (every portal's rows are relayed: the relay reads ``outbox_all``)
    portal_id: int | None = None


@dataclass(frozen=True)
class RelayMetrics:
    published: Counter
    unpublished: Gauge
    oldest_age: Gauge
    active: Gauge
    deleted: Counter
    errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> RelayMetrics:
        return cls(
            published=Counter(
                "hubsync_outbox_published",
                "Outbox rows acknowledged by Kafka, by topic",
                ["topic"],
                registry=registry,
            ),
            unpublished=Gauge(
                "hubsync_outbox_unpublished_rows",
                "Outbox rows not yet published (outbox lag, in rows)",
                registry=registry,
            ),
            oldest_age=Gauge(
                "hubsync_outbox_oldest_unpublished_age_seconds",
                "Age of the oldest unpublished outbox row (outbox lag, in time; 0 when none)",
                registry=registry,
            ),
            active=Gauge(
                "hubsync_outbox_relay_active",
                "1 while this relay holds the relay lock and publishes, 0 while it stands by",
                registry=registry,
            ),
            deleted=Counter(
                "hubsync_outbox_deleted",
                "Published outbox rows deleted by the retention cleanup",
                registry=registry,
            ),
            errors=Counter(
                "hubsync_outbox_relay_errors",
                "Relay rounds that failed and were retried, by dependency (database, kafka)",
                ["dependency"],
                registry=registry,
            ),
        )


#: the relay metrics of a registry, created once (several relays may share a registry)
relay_metrics = PerRegistry(RelayMetrics.create)


# ---- rows -> messages (pure) ---------------------------------------------------------------------


def to_message(
    row: OutboxRow, topics: RelayTopics, codec: AvroCodec, schema: AvroSchema
) -> tuple[str, EncodedMessage]:
    """The topic and Kafka message of ``row``; :class:`InvalidOutboxPayloadError` when the row does
    not make a valid ``PlatformChangeEvent`` for its aggregate."""
    topic = topics.for_aggregate(row.aggregatetype)
    if topic is None:
        raise InvalidOutboxPayloadError(
            f"outbox aggregatetype {row.aggregatetype!r}: expected contact or account"
        )
    if not isinstance(row.payload, Mapping):
        raise InvalidOutboxPayloadError(f"outbox payload: expected a JSON object, got {row.payload!r:.100}")
    value = payload_to_avro(row.id, row.payload, row.portal_id)
    if value["object_type"].lower() != row.aggregatetype:
        raise InvalidOutboxPayloadError(
            f"outbox payload object_type {value['object_type']!r}"
            f" does not match aggregatetype {row.aggregatetype!r}"
        )
    if str(value["record_id"]) != row.aggregateid:
        raise InvalidOutboxPayloadError(
            f"outbox payload record_id {value['record_id']} does not match aggregateid {row.aggregateid!r}"
        )
    try:
        encoded = codec.encode(topic, schema, value)
    except (ValueError, TypeError, OverflowError) as exc:  # fastavro's refusals (a long out of range, ...)
        raise InvalidOutboxPayloadError(f"outbox payload does not encode: {exc}") from exc
    headers = ((HEADER_ID, str(row.id).encode()), (HEADER_TYPE, row.type.encode()))
    return topic, EncodedMessage(row.aggregateid.encode(), encoded, headers)


def outbox_dead_letter(row: OutboxRow, error: BaseException, at_ms: int) -> DeadLetterMessage:
    """The dead letter of a row that cannot be relayed: the key is ``aggregateid``, the value the
    payload as JSON text, offset ``seq``, partition -1 (a table has none)."""
    payload = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return dead_letter(
        topic=OUTBOX_SOURCE,
        partition=-1,
        offset=row.seq,
        key=row.aggregateid.encode(),
        value=payload,
        timestamp_ms=int(row.created_at.timestamp() * 1000),
        stage=FailureStage.VALIDATE,
        error=error,
        now_ms=at_ms,
    )


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """One round: messages per topic (in ``seq`` order) and the dead letters of the bad rows."""

    messages: dict[str, list[EncodedMessage]] = field(default_factory=dict)
    dead_letters: list[DeadLetterMessage] = field(default_factory=list)


def prepare_batch(
    rows: Sequence[OutboxRow], topics: RelayTopics, codec: AvroCodec, schema: AvroSchema, at_ms: int
) -> PreparedBatch:
    batch = PreparedBatch()
    for row in rows:
        try:
            topic, message = to_message(row, topics, codec, schema)
        except InvalidOutboxPayloadError as exc:
            log.warning("outbox row %s (seq %d) goes to the DLQ: %s", row.id, row.seq, exc)
            batch.dead_letters.append(outbox_dead_letter(row, exc, at_ms))
        else:
            batch.messages.setdefault(topic, []).append(message)
    return batch


#: outbox rows of changes made platform-side, whose records' canonical view changed
PLATFORM_CHANGES = frozenset({"CREATED", "UPDATED", "DELETED", "MERGED", "ENRICHED"})


def platform_changed_records(rows: Sequence[OutboxRow]) -> dict[str, set[int]]:
    """Record ids per kind whose canonical record the platform-side changes of ``rows`` changed
    (both records of a merge). Autofill/overwrite rows are left out: ingest publishes those."""
    wanted: dict[str, set[int]] = {"contact": set(), "account": set()}
    for row in rows:
        if row.type not in PLATFORM_CHANGES or row.aggregatetype not in wanted:
            continue
        ids = wanted[row.aggregatetype]
        if row.aggregateid.isdigit():
            ids.add(int(row.aggregateid))
        merged_into = row.payload.get("merged_into_id") if isinstance(row.payload, Mapping) else None
        if isinstance(merged_into, int):
            ids.add(merged_into)
    return wanted


# ---- SQL -----------------------------------------------------------------------------------------

_FETCH = """
SELECT id, seq, aggregatetype, aggregateid, type, payload, created_at, portal_id
  FROM hubsync.outbox_all WHERE published_at IS NULL ORDER BY seq LIMIT %s
"""


async def try_lock(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Take the relay lock for this session, without waiting."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def fetch_unpublished(conn: psycopg.AsyncConnection[Any], limit: int) -> list[OutboxRow]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_FETCH, (limit,))
        return [OutboxRow(**row) for row in await cur.fetchall()]


async def mark_published(conn: psycopg.AsyncConnection[Any], ids: Sequence[uuid.UUID]) -> int:
    cur = await conn.execute(
        "UPDATE hubsync.outbox_all SET published_at = now() WHERE id = ANY(%s) AND published_at IS NULL",
        (list(ids),),
    )
    return cur.rowcount


async def outbox_lag(conn: psycopg.AsyncConnection[Any]) -> tuple[int, float]:
    """Unpublished rows and the age in seconds of the oldest (0 when none)."""
    cur = await conn.execute(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
        " FROM hubsync.outbox_all WHERE published_at IS NULL"
    )
    row = await cur.fetchone()
    return (0, 0.0) if row is None else (int(row[0]), max(0.0, float(row[1])))


async def delete_published(
    conn: psycopg.AsyncConnection[Any], older_than: timedelta, *, chunk: int = 10_000
) -> int:
    """Delete rows published more than ``older_than`` ago, ``chunk`` rows per statement."""
    deleted = 0
    while True:
        cur = await conn.execute(
            "DELETE FROM hubsync.outbox_all WHERE id IN (SELECT id FROM hubsync.outbox_all"
            " WHERE published_at < now() - %s LIMIT %s)",
            (older_than, chunk),
        )
        deleted += cur.rowcount
        if cur.rowcount < chunk:
            return deleted


# ---- the relay -----------------------------------------------------------------------------------


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _notified(conn: psycopg.AsyncConnection[Any], timeout: float) -> bool:
    """Wait up to ``timeout`` for a notification (those received meanwhile come first)."""
    got = False
    async for _ in conn.notifies(timeout=timeout, stop_after=1):
        got = True
    return got


class OutboxRelay:
    """Publishes the outbox. Does not own ``publisher`` (start and close it yourself); run it with
    :meth:`run` until ``stop`` is set, or drain once with :meth:`run_once`."""

    def __init__(
        self,
        conninfo: str,
        publisher: AsyncKafkaPublisher,
        codec: AvroCodec,
        topics: RelayTopics,
        dead_letters: DeadLetterPublisher,
        *,
        config: RelayConfig | None = None,
        metrics: RelayMetrics | None = None,
        name: str = "relay",
    ) -> None:
        self.conninfo = conninfo
        self.publisher = publisher
        self.codec = codec
        self.schema = codec.repository.current(PLATFORM_SCHEMA)
        self._crm_schemas = {
            "contact": codec.repository.current("crm_contact"),
            "account": codec.repository.current("crm_account"),
        }
        self.topics = topics
        self.dead_letters = dead_letters
        self.config = config or RelayConfig()
        self.metrics = metrics or relay_metrics()
        self.name = name
        #: rows this relay published (dead-lettered ones included) since it was made
        self.published = 0
        #: True while this relay holds the lock
        self.active = False

    # -- one round -----------------------------------------------------------------------------

    async def publish_round(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Publish up to ``batch_size`` unpublished rows; mark them once Kafka acknowledged all."""
        rows = await fetch_unpublished(conn, self.config.batch_size)
        if not rows:
            return 0
        batch = prepare_batch(rows, self.topics, self.codec, self.schema, now_ms())
        await self._publish(batch.messages)
        canonical = await self._publish_canonical(conn, rows)
        if batch.dead_letters:
            await self.dead_letters.publish(batch.dead_letters, timeout_s=self.config.publish_timeout_s)
        crash_point("relay.after_publish")
        await mark_published(conn, [row.id for row in rows])
        crash_point("relay.after_mark")
        self._count(canonical)
        self._count(batch.messages)
        self.published += len(rows)
        return len(rows)

    async def _publish(self, by_topic: Mapping[str, Sequence[EncodedMessage]]) -> None:
        """Send every topic's messages; returns once Kafka acknowledged them all."""
        timeout = self.config.publish_timeout_s
        await asyncio.gather(
            *(
                self.publisher.publish(topic, messages, timeout_s=timeout)
                for topic, messages in by_topic.items()
            )
        )

    def _count(self, by_topic: Mapping[str, Sequence[EncodedMessage]]) -> None:
        for topic, messages in by_topic.items():
            self.metrics.published.labels(topic=topic).inc(len(messages))

    async def _publish_canonical(
        self, conn: psycopg.AsyncConnection[Any], rows: Sequence[OutboxRow]
    ) -> dict[str, list[EncodedMessage]]:
        """Publish the ``crm.*`` records of the records these rows changed platform-side: a
        platform-made record is on ``crm.*`` as soon as it is written, not only once HubSpot echoed
        its push."""
        return await self._publish_canonical_of(
            conn,
            {
                portal: platform_changed_records(portal_rows)
                for portal, portal_rows in group_by_portal(rows, lambda r: r.portal_id).items()
            },
        )

    async def republish_round(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Publish the canonical records asked for in ``hubsync.crm_republish_all`` (a duplicate
        pair flagged, dropped or dismissed outside ingest: :mod:`hubsync.push.republish`), up to
        ``batch_size`` requests; they are deleted once Kafka acknowledged."""
        requests = await fetch_republish(conn, self.config.batch_size)
        if not requests:
            return 0
        canonical = await self._publish_canonical_of(conn, wanted_by_portal(requests))
        await delete_republished(conn, [r.id for r in requests])
        self._count(canonical)
        return len(requests)

    async def _publish_canonical_of(
        self, conn: psycopg.AsyncConnection[Any], wanted_by: Mapping[int | None, Mapping[str, set[int]]]
    ) -> dict[str, list[EncodedMessage]]:
        """Read and publish the ``crm.*`` records of the wanted record ids, a portal at a time, each
        in a transaction holding the portal's canonical lock until Kafka acknowledged them
        (:func:`~hubsync.storage.canonical.alock_canonical`: the ingest workers publish the same
        records); returns what was published, by topic."""
        out: dict[str, list[EncodedMessage]] = {}
        for portal, wanted in wanted_by.items():
            if not any(wanted.values()):
                continue
            mine: dict[str, list[EncodedMessage]] = {}
            async with conn.transaction():  # the portal's views and lock, for this transaction only
                await enter_portal_async(conn, portal)
                await alock_canonical(conn)
                for kind, topic, read in (
                    ("contact", self.topics.crm_contact, acanonical_contacts),
                    ("account", self.topics.crm_account, acanonical_accounts),
                ):
                    if topic is None or not wanted.get(kind):
                        continue
                    schema = self._crm_schemas[kind]
                    records = await read(conn, sorted(wanted[kind]))
                    mine.setdefault(topic, []).extend(
                        EncodedMessage(crm_key(r["record_id"]), self.codec.encode(topic, schema, r))
                        for r in records
                    )
                await self._publish(mine)
            for topic, messages in mine.items():
                out.setdefault(topic, []).extend(messages)
        return out

    async def drain(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event | None = None) -> int:
        """Publish rounds until the outbox has nothing left (or ``stop`` is set)."""
        total = 0
        while stop is None or not stop.is_set():
            sent = await self.publish_round(conn)
            total += sent
            if sent < self.config.batch_size:
                break
        while stop is None or not stop.is_set():
            if await self.republish_round(conn) < self.config.batch_size:
                break
        await self.refresh_lag(conn)
        return total

    async def refresh_lag(self, conn: psycopg.AsyncConnection[Any]) -> None:
        rows, age = await outbox_lag(conn)
        self.metrics.unpublished.set(rows)
        self.metrics.oldest_age.set(age)

    async def cleanup(self, conn: psycopg.AsyncConnection[Any]) -> int:
        if self.config.retention is None:
            return 0
        deleted = await delete_published(conn, self.config.retention, chunk=self.config.cleanup_chunk)
        if deleted:
            log.info(
                "%s: deleted %d published outbox rows older than %s",
                self.name,
                deleted,
                self.config.retention,
            )
            self.metrics.deleted.inc(deleted)
        return deleted

    # -- the service ---------------------------------------------------------------------------

    def _set_active(self, active: bool) -> None:
        if active != self.active:
            log.info("%s: %s", self.name, "holds the relay lock, publishing" if active else "stands by")
        self.active = active
        self.metrics.active.set(1 if active else 0)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.conninfo, **self.config.connection_kwargs())

    async def run_once(self) -> int | None:
        """Drain the outbox once; None when another relay holds the lock (nothing done)."""
        async with await self._connect() as conn:
            if not await try_lock(conn):
                return None
            self._set_active(True)
            try:
                sent = await self.drain(conn)
                await self.cleanup(conn)
                return sent
            finally:
                self._set_active(False)

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by or publish until ``stop`` is set. A lost database connection or a Kafka round
        that was not acknowledged is retried with backoff, for as long as it takes."""
        backoff = BackoffSchedule(Backoff(self.config.backoff_initial_s, self.config.backoff_max_s))
        while not stop.is_set():
            try:
                await self._session(stop, backoff)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._set_active(False)
                self.metrics.errors.labels(dependency="database").inc()
                delay = backoff.next()
                log.warning("%s: database unavailable (%s); retrying in %.1f s", self.name, exc, delay)
                await _sleep(stop, delay)
        self._set_active(False)

    async def _session(self, stop: asyncio.Event, backoff: BackoffSchedule) -> None:
        async with await self._connect() as conn:
            while not await try_lock(conn):
                self._set_active(False)
                await self.refresh_lag(conn)
                if await _sleep(stop, self.config.standby_interval_s):
                    return
            backoff.reset()
            self._set_active(True)
            try:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                await self._serve(conn, stop, backoff)
            finally:
                self._set_active(False)  # closing the connection releases the lock

    async def _serve(
        self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event, backoff: BackoffSchedule
    ) -> None:
        next_cleanup = time.monotonic()
        while not stop.is_set():
            if time.monotonic() >= next_cleanup:
                await self.cleanup(conn)
                next_cleanup = time.monotonic() + self.config.cleanup_interval_s
            try:
                await self.drain(conn, stop)
            except RetriableError as exc:
                self.metrics.errors.labels(dependency="kafka").inc()
                delay = backoff.next()
                log.warning("%s: Kafka did not acknowledge (%s); retrying in %.1f s", self.name, exc, delay)
                if await _sleep(stop, delay):
                    return
                continue
            backoff.reset()
            await self._wait(conn, stop)

    async def _wait(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        """Until a notification, the polling interval, or ``stop``."""
        waiting = asyncio.ensure_future(_notified(conn, self.config.poll_interval_s))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not waiting.done():  # stopping: the connection is closed next, whatever state it is in
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                    await waiting
        if waiting.done() and not waiting.cancelled():
            waiting.result()  # a lost connection raises here


@contextlib.asynccontextmanager
async def relay_from_settings(
    settings: Settings,
    codec: AvroCodec,
    *,
    config: RelayConfig | None = None,
    metrics: RelayMetrics | None = None,
    registry: CollectorRegistry = REGISTRY,
    name: str = "relay",
) -> AsyncIterator[OutboxRelay]:
    """A relay on the configured database and Kafka, with its own started producer (closed on exit)."""
    publisher = AsyncKafkaPublisher(kafka_connection(settings), codec)
    await publisher.start()
    try:
        yield OutboxRelay(
            require_database_url(settings),
            publisher,
            codec,
            RelayTopics.from_settings(settings),
            DeadLetterPublisher.from_settings(settings, publisher, codec, registry=registry),
            config=config,
            metrics=metrics or relay_metrics(registry),
            name=name,
        )
    finally:
        await publisher.close()
