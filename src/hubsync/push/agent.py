"""The push agent's batch: platform-side changes from Kafka into HubSpot's batch APIs.

For one batch of ``platform.*.changes`` messages, :meth:`PushProcessor.process`:

1. decodes them (the undecodable ones go to the DLQ) and coalesces them per record;
2. loads the records, the push settings and the field mappings, and plans each record
   (:mod:`hubsync.push.plan`);
3. sends the creates through batch **upsert** on ``hubsync_record_id`` and the updates through batch
   **update**, up to 100 records per request, on the realtime lane of the portal's rate limiter
   (the client retries 429 and 5xx with backoff);
4. in one transaction, links new HubSpot ids, writes ``pushed`` activity rows, and records every
   per-record failure in the error log (a 409 on a contact whose e-mail another HubSpot record holds
   also flags the platform record as a potential duplicate); then publishes the failures to
   ``hubsync.push.errors``.

A failure still retriable after the client's own retries (429 storms, 5xx) makes the whole batch
retry later with backoff: creates are upserts on the platform id and updates set values, so
re-sending the writes that did succeed changes nothing and creates no second record. Only when
:meth:`process` returns may the caller commit the batch's offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
import psycopg_pool

from hubsync._runtime.crashpoints import crash_point
from hubsync.avro.codec import AvroCodec
from hubsync.backoff import Backoff
from hubsync.connectors.hubspot.http.batch import BatchFailure, BatchOutcome
from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.errors import BLOCKED_ERRORS
from hubsync.connectors.hubspot.http.ratelimit import Lane
from hubsync.connectors.hubspot.oauth.clients import ClientsByPortal, OneClient
from hubsync.errors import RetriableError
from hubsync.mapping.store import load_mappings
from hubsync.push.metrics import PushMetrics, push_metrics
from hubsync.push.plan import Planned, Skipped, coalesce, plan_all
from hubsync.push.records import load_push_settings, load_snapshots, store_results
from hubsync.records.kinds import HUBSPOT_TYPES, ObjectKind
from hubsync.storage.portal_scope import PortalRouting, group_by_portal
from hubsync.storage.portals import PortalUnavailableError
from hubsync.storage.retriable import RETRIABLE_DB_ERRORS
from hubsync.streams.consumer import decode_by_topic, retry_until_done
from hubsync.streams.decode import KafkaRecord, dead_letter_for
from hubsync.streams.dlq import DeadLetterMessage, DeadLetterPublisher, FailureStage, now_ms

log = logging.getLogger(__name__)

CHANGE_SCHEMA = "platform_change_event"
#: how long a batch that failed retriably waits before it is sent again
PUSH_BACKOFF = Backoff(base_s=1.0, max_s=60.0)
_RETRIABLE: tuple[type[BaseException], ...] = (RetriableError, *RETRIABLE_DB_ERRORS)


@dataclass(frozen=True, slots=True)
class Failed:
    """One record HubSpot did not accept."""

    planned: Planned
    failure: BatchFailure


class FailureLog(Protocol):
    """Where per-record push failures go (the error log table and topic)."""

    def record(self, conn: psycopg.Connection[Any], failed: Sequence[Failed]) -> Sequence[Any]:
        """Store ``failed`` in the error log (in ``conn``'s transaction); return what to publish."""
        ...

    def resolve(self, conn: psycopg.Connection[Any], done: Sequence[Planned]) -> None:
        """Close the open errors of records that were now written."""
        ...

    async def publish(self, rows: Sequence[Any]) -> None: ...


@dataclass(slots=True)
class PushReport:
    messages: int = 0
    dead_letters: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    attempts: int = 1


def _outcome_parts(
    planned: Sequence[Planned], outcome: BatchOutcome
) -> tuple[list[tuple[Planned, str]], list[Failed]]:
    ok = [(planned[s.index], str(s.result.get("id"))) for s in outcome.succeeded]
    failed = [Failed(planned[f.index], f) for f in outcome.failed]
    return ok, failed


def _tally(kinds: Sequence[ObjectKind]) -> dict[ObjectKind, int]:
    out: dict[ObjectKind, int] = {}
    for kind in kinds:
        out[kind] = out.get(kind, 0) + 1
    return out


Decoded = tuple[KafkaRecord, dict[str, Any]]
Outcome = tuple[list[tuple[Planned, str]], list[Planned], list[Failed], list[Skipped]]


class PushProcessor:
    """Applies batches of ``platform.*.changes`` messages to HubSpot; see the module docstring.

    With many portals (the public app), a batch's changes are pushed per portal, each through its
    portal's client and with its portal's settings, mappings and error log, the portals side by
    side (each retried on its own). The changes of a portal that is paused, revoked or removed go
    to the DLQ with the reason (``hubsync replay`` sends them once it is active again)."""

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        clients: ClientsByPortal | HubSpotClient,
        codec: AvroCodec,
        dlq: DeadLetterPublisher,
        failures: FailureLog,
        *,
        backoff: Callable[[int], float] | None = None,
        metrics: PushMetrics | None = None,
        prepare: Callable[[HubSpotClient], Awaitable[object]] | None = None,
        blocked_wait_s: float = 300.0,
    ) -> None:
        self.pool = pool
        #: how long a batch waits after HubSpot refused it for a lasting reason (daily limit, token)
        self.blocked_wait_s = blocked_wait_s
        #: what a portal needs before its first push (the ``hubsync_record_id`` property), run once
        self.prepare = prepare
        self._prepared: set[int | None] = set()
        self.clients: ClientsByPortal = OneClient(clients) if isinstance(clients, HubSpotClient) else clients
        self.routing = PortalRouting(many=self.clients.many)
        self.codec = codec
        self.dlq = dlq
        self.failures = failures
        self.backoff = backoff or PUSH_BACKOFF
        self._schema = codec.repository.current(CHANGE_SCHEMA)
        self.metrics = metrics or push_metrics()

    def _decode(self, messages: Sequence[KafkaRecord]) -> tuple[list[Decoded], list[DeadLetterMessage]]:
        return decode_by_topic(messages, self.codec, self._schema, now_ms=now_ms())

    async def prepare_portal(self, portal: int | None) -> HubSpotClient:
        """``portal``'s client, prepared for pushes (once per portal and process)."""
        client = self.clients.client(portal)
        if self.prepare is not None and portal not in self._prepared:
            await self.prepare(client)
            self._prepared.add(portal)
        return client

    def _portal_of(self, item: Decoded) -> int | None:
        return self.routing.portal_of(item[1].get("portal_id"))

    def _plan(
        self, portal: int | None, values: Sequence[dict[str, Any]]
    ) -> tuple[list[Planned], list[Skipped]]:
        changes = coalesce(values)
        with self.pool.connection() as conn:
            self.routing.enter(conn, portal)
            records = load_snapshots(conn, [(c.kind, c.record_id) for c in changes])
            settings = load_push_settings(conn)
            mappings = load_mappings(conn)
            conn.commit()
        mapped: dict[ObjectKind, list[str]] = {
            kind: [m.hubspot_property for m in mappings.for_object(kind)] for kind in ("contact", "account")
        }
        return plan_all(changes, records, settings, mapped)

    async def _send(
        self, client: HubSpotClient, planned: Sequence[Planned]
    ) -> tuple[list[tuple[Planned, str]], list[Planned], list[Failed]]:
        created: list[tuple[Planned, str]] = []
        updated: list[Planned] = []
        failed: list[Failed] = []
        for kind in ("contact", "account"):
            creates = [p for p in planned if p.kind == kind and p.op == "create"]
            updates = [p for p in planned if p.kind == kind and p.op == "update"]
            hubspot_type = HUBSPOT_TYPES[kind]
            if creates:
                outcome = await client.batch_upsert(
                    hubspot_type, [p.hubspot_input() for p in creates], lane=Lane.REALTIME
                )
                ok, bad = _outcome_parts(creates, outcome)
                created += ok
                failed += bad
            if updates:
                outcome = await client.batch_update(
                    hubspot_type, [p.hubspot_input() for p in updates], lane=Lane.REALTIME
                )
                ok, bad = _outcome_parts(updates, outcome)
                updated += [p for p, _ in ok]
                failed += bad
        return created, updated, failed

    def _store(
        self,
        portal: int | None,
        created: Sequence[tuple[Planned, str]],
        updated: Sequence[Planned],
        failed: Sequence[Failed],
    ) -> Sequence[Any]:
        with self.pool.connection() as conn, conn.transaction():
            self.routing.enter(conn, portal)
            store_results(conn, created, updated)
            self.failures.resolve(conn, [p for p, _ in created] + list(updated))
            return self.failures.record(conn, failed)

    def _record(
        self,
        created: Sequence[tuple[Planned, str]],
        updated: Sequence[Planned],
        failed: Sequence[Failed],
        skipped: Sequence[Skipped],
    ) -> None:
        parts: list[tuple[str, Sequence[ObjectKind]]] = [
            ("created", [p.kind for p, _ in created]),
            ("updated", [p.kind for p in updated]),
            ("failed", [f.planned.kind for f in failed]),
            ("skipped", [s.kind for s in skipped]),
        ]
        for outcome, kinds in parts:
            for kind, count in _tally(kinds).items():
                self.metrics.records.labels(object_type=kind, outcome=outcome).inc(count)
        written = len(created) + len(updated) + len(failed)
        if written:
            self.metrics.batch_records.observe(written)

    async def _push_portal(self, portal: int | None, items: Sequence[Decoded]) -> tuple[Outcome, int]:
        """Push one portal's changes, retried on their own until HubSpot and PostgreSQL hold them.

        An attempt that fails retriably has stored what it did write: that counts in the outcome, and
        the next attempt finds it done, so it is not reported as skipped as well. Records HubSpot
        refused are planned and sent again by the next attempt, so they count once, from the attempt
        that ends the batch."""
        values = [value for _, value in items]
        created_before: list[tuple[Planned, str]] = []
        updated_before: list[Planned] = []

        async def attempt() -> Outcome:
            planned, skipped = await asyncio.to_thread(self._plan, portal, values)
            try:
                client = await self.prepare_portal(portal) if planned else self.clients.client(portal)
                created, updated, failed = await self._send(client, planned)
            except BLOCKED_ERRORS as exc:
                # nothing passes before HubSpot resets the limit or a person fixes the token: wait,
                # one try each time, the batch kept (its offsets uncommitted)
                raise RetriableError(str(exc), retry_after=self.blocked_wait_s) from exc
            if created or updated:
                crash_point("push.after_send")
            topic_values = await asyncio.to_thread(self._store, portal, created, updated, failed)
            if created or updated:
                crash_point("push.after_store")
            await self.failures.publish(topic_values)
            retriable = [f for f in failed if f.failure.retriable]
            if retriable:
                created_before.extend(created)
                updated_before.extend(updated)
                first = retriable[0].failure.details.describe()
                raise RetriableError(f"{len(retriable)} record(s) still failing after retries: {first}")
            done = {(p.kind, p.record_id) for p, _ in created_before}
            done |= {(p.kind, p.record_id) for p in updated_before}
            left = [s for s in skipped if (s.kind, s.record_id) not in done]
            return created_before + created, updated_before + updated, failed, left

        return await retry_until_done(
            attempt,
            retriable=_RETRIABLE,
            backoff=self.backoff,
            retries=self.metrics.retries,
            what="push batch" if portal is None else f"push batch of portal {portal}",
            log=log,
        )

    async def _push_or_park(
        self, portal: int | None, items: Sequence[Decoded]
    ) -> tuple[Outcome, int, list[DeadLetterMessage]]:
        try:
            outcome, attempts = await self._push_portal(portal, items)
        except PortalUnavailableError as exc:
            log.warning("%d change(s) of portal %s not pushed, sent to the DLQ: %s", len(items), portal, exc)
            at = now_ms()
            letters = [dead_letter_for(message, FailureStage.APPLY, exc, now_ms=at) for message, _ in items]
            return ([], [], [], []), 1, letters
        return outcome, attempts, []

    async def process(self, messages: Sequence[KafkaRecord]) -> PushReport:
        """Push ``messages``; returns once HubSpot and PostgreSQL hold the outcome."""
        decoded, dead = self._decode(messages)
        await self.dlq.publish(dead)
        report = PushReport(messages=len(messages), dead_letters=len(dead))
        groups = group_by_portal(decoded, self._portal_of)
        results = await asyncio.gather(*(self._push_or_park(p, items) for p, items in groups.items()))
        created: list[tuple[Planned, str]] = []
        updated: list[Planned] = []
        failed: list[Failed] = []
        skipped: list[Skipped] = []
        parked: list[DeadLetterMessage] = []
        for (done, changed, refused, left), attempts, letters in results:
            created += done
            updated += changed
            failed += refused
            skipped += left
            parked += letters
            report.attempts = max(report.attempts, attempts)
        await self.dlq.publish(parked)
        report.dead_letters += len(parked)
        report.created, report.updated, report.failed = len(created), len(updated), len(failed)
        report.skipped = skipped
        self._record(created, updated, failed, skipped)
        for s in skipped:
            log.debug("not pushed: %s %s: %s", s.kind, s.record_id, s.reason)
        return report
