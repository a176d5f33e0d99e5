"""Full records for webhook events that do not carry enough (SPEC section 4).

HubSpot's webhook events name a change, not the record: a ``creation`` has no properties at
all, and a ``propertyChange`` carries one property. After a batch is acknowledged, the receiver
hands its events to this fetcher, which reads the records that need it with batch read (the
REALTIME lane, ahead of backfills), coalescing every event of the same record within
``linger_s``, and publishes them as ``SNAPSHOT`` events with source ``WEBHOOK``.

Which events need the full record: creations, restores and merges (the surviving record), and
property changes of the properties duplicate detection reads together (email, additional emails,
names, company, domain): a new email alone cannot be checked for duplicates without the rest.
Other property changes are applied as they are. A failed read is logged and dropped: the poller
reads every changed record anyway, so it is a delay, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.ratelimit import Lane
from hubsync.connectors.hubspot.oauth.clients import ClientsByPortal, OneClient
from hubsync.connectors.hubspot.sources.poller import TOPIC_ROLE, EventPublisher
from hubsync.connectors.hubspot.sources.record_events import Message, PortalProperties, record_events
from hubsync.connectors.hubspot.webhooks.parse import ParsedEvent
from hubsync.errors import HubsyncError
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.storage.portal_scope import PortalRouting

log = logging.getLogger(__name__)

FETCH_CHANGE_TYPES = frozenset({"CREATION", "RESTORE", "MERGE"})
IDENTITY_PROPERTIES = frozenset(
    {"email", "hs_additional_emails", "firstname", "lastname", "company", "name", "domain"}
)
#: portals whose records are read at once (each paced by its own limits; the process's FairShare
#: bounds the requests in flight anyway, this bounds the database reads of their mappings)
FETCH_CONCURRENCY = 16
_ROLE_TYPES: dict[str, HubSpotObjectType] = {role: ot for ot, role in TOPIC_ROLE.items()}


def needs_full_record(event: ParsedEvent) -> bool:
    if event.change_type in FETCH_CHANGE_TYPES:
        return True
    return event.change_type == "PROPERTY_CHANGE" and event.property_name in IDENTITY_PROPERTIES


class WebhookRecordFetcher:
    """Reads the records webhook events name, each in its own portal, through that portal's client."""

    def __init__(
        self,
        clients: ClientsByPortal | HubSpotClient,
        publisher: EventPublisher,
        properties: PortalProperties | dict[HubSpotObjectType, list[str]],
        *,
        linger_s: float = 0.2,
        max_pending: int = 10_000,
    ) -> None:
        self.clients: ClientsByPortal = OneClient(clients) if isinstance(clients, HubSpotClient) else clients
        self.routing = PortalRouting(many=self.clients.many)
        self.publisher = publisher
        self.properties = properties
        self.linger_s = linger_s
        self.max_pending = max_pending
        #: per (portal, object type), the ids to read, in arrival order
        self._pending: dict[tuple[int | None, HubSpotObjectType], dict[str, None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.fetched = 0
        self.dropped = 0

    def notify(self, events: Iterable[ParsedEvent]) -> int:
        """Queue the records of ``events`` that need a full read; returns how many were queued."""
        queued = 0
        for event in events:
            object_type = _ROLE_TYPES.get(event.role)
            if object_type is None or not needs_full_record(event):
                continue
            portal = self.routing.portal_of(event.portal_id)
            pending = self._pending.setdefault((portal, object_type), {})
            object_id = event.object_id or event.key
            if object_id in pending:
                continue
            if self.pending >= self.max_pending:
                self.dropped += 1  # the poller will read it
                continue
            pending[object_id] = None
            queued += 1
        if queued:
            self._wake.set()
        return queued

    @property
    def pending(self) -> int:
        return sum(map(len, self._pending.values()))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hubsync-webhook-record-fetcher")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Fetch what is pending (up to ``timeout_s``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger_s)  # let more events of the same records arrive
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Read everything pending, the portals side by side (each paced by its own limits)."""
        groups, self._pending = self._pending, {}
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def drain(portal: int | None, object_type: HubSpotObjectType, ids: dict[str, None]) -> None:
            async with limit:
                await self._drain(portal, object_type, ids)

        await asyncio.gather(*(drain(portal, ot, ids) for (portal, ot), ids in groups.items()))

    async def _drain(
        self, portal: int | None, object_type: HubSpotObjectType, pending: dict[str, None]
    ) -> None:
        ids = list(pending)
        for start in range(0, len(ids), 100):
            await self._fetch(portal, object_type, ids[start : start + 100])

    async def _properties(self, portal: int | None, object_type: HubSpotObjectType) -> list[str]:
        if isinstance(self.properties, PortalProperties):
            return (await self.properties.get(portal))[object_type]
        return self.properties[object_type]

    async def _fetch(self, portal: int | None, object_type: HubSpotObjectType, ids: list[str]) -> None:
        try:
            outcome = await self.clients.client(portal).batch_read(
                object_type, ids, properties=await self._properties(portal, object_type), lane=Lane.REALTIME
            )
            now_ms = time.time_ns() // 1_000_000
            messages: list[Message] = []
            for success in outcome.succeeded:
                messages.extend(
                    record_events(
                        object_type, success.result, source="WEBHOOK", received_at_ms=now_ms, portal_id=portal
                    )
                )
            if messages:
                await self.publisher.publish(TOPIC_ROLE[object_type], messages)
            self.fetched += len(outcome.succeeded)
        except HubsyncError as exc:
            log.warning(
                "could not read %d %s of portal %s after their webhooks (the poller will): %s",
                len(ids),
                object_type,
                portal,
                exc,
            )
