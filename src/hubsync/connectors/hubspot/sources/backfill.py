"""Full reads of a HubSpot object type by list paging (``hubsync poller --full``, ``hubsync pull
--full``): every active record, then every archived one, resumable from a durable cursor.

The next page is requested while the current one is published, so the read stays close to the
rate limit; the cursor (the page's ``after``) is saved only after Kafka acknowledged the page.
When a backfill finishes and the incremental poller has no cursor yet, the poller starts from
the backfill's start time (minus its overlap), so nothing changed meanwhile is missed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hubsync.connectors.hubspot.http.client import Page
from hubsync.connectors.hubspot.sources.cursors import CursorStore, PollCursor
from hubsync.connectors.hubspot.sources.poller import BACKFILL_ROLE, EventPublisher, PollerConfig
from hubsync.connectors.hubspot.sources.record_events import Message, record_events
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.records.kinds import KIND_OF_HUBSPOT_TYPE

PHASES = ("active", "archived")


class ListApi(Protocol):
    async def get_page(
        self,
        object_type: HubSpotObjectType,
        *,
        after: str | None = None,
        limit: int = 100,
        properties: Sequence[str] = (),
        archived: bool = False,
        associations: Sequence[str] = (),
    ) -> Page: ...


@dataclass(frozen=True, slots=True)
class BackfillResult:
    records: int
    published: int
    pages: int
    seconds: float
    resumed: bool


class Backfill:
    def __init__(
        self,
        api: ListApi,
        publisher: EventPublisher,
        cursors: CursorStore,
        properties: dict[HubSpotObjectType, list[str]],
        *,
        connector: str = "backfill",
        source: str = "BACKFILL",
        poller: PollerConfig | None = None,
        progress: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        portal_id: int | None = None,
    ) -> None:
        self.api = api
        self.publisher = publisher
        self.cursors = cursors
        self.properties = properties
        self.connector = connector
        self.source = source
        self.poller = poller or PollerConfig()
        self.progress = progress
        self.clock = clock
        #: the portal read (its events carry it); None: a private app's
        self.portal_id = portal_id

    async def run(self, object_type: HubSpotObjectType, *, restart: bool = False) -> BackfillResult:
        started = time.perf_counter()
        cursor_type = KIND_OF_HUBSPOT_TYPE[object_type]
        saved = None if restart else await self.cursors.load(self.connector, cursor_type)
        resumed = bool(saved) and saved is not None and saved.get("phase") in PHASES
        state: dict[str, Any] = (
            dict(saved)
            if resumed and saved is not None
            else {"phase": "active", "after": None, "started_at_ms": int(self.clock() * 1000)}
        )
        records = published = pages = 0
        for phase in PHASES[PHASES.index(state["phase"]) :]:
            after = state["after"] if phase == state["phase"] else None
            fetch = self._fetch(object_type, phase, after)
            while True:
                page = await fetch
                if page.after:
                    fetch = self._fetch(object_type, phase, page.after)  # read ahead
                messages: list[Message] = []
                now_ms = int(self.clock() * 1000)
                for record in page.results:
                    messages.extend(
                        record_events(
                            object_type,
                            record,
                            source=self.source,
                            received_at_ms=now_ms,
                            portal_id=self.portal_id,
                        )
                    )
                if messages:
                    await self.publisher.publish(BACKFILL_ROLE[object_type], messages)
                records += len(page.results)
                published += len(messages)
                pages += 1
                state.update(phase=phase, after=page.after)
                await self.cursors.save(self.connector, cursor_type, state)
                if self.progress is not None:
                    self.progress(len(page.results))
                if not page.after:
                    break
        state.update(phase="done", after=None)
        await self.cursors.save(self.connector, cursor_type, state)
        await self._hand_over_to_poller(object_type, int(state["started_at_ms"]))
        return BackfillResult(records, published, pages, time.perf_counter() - started, resumed)

    def _fetch(self, object_type: HubSpotObjectType, phase: str, after: str | None) -> asyncio.Task[Page]:
        return asyncio.ensure_future(
            self.api.get_page(
                object_type,
                after=after,
                limit=100,
                properties=self.properties[object_type],
                archived=phase == "archived",
                associations=("companies",) if object_type == "contacts" else (),
            )
        )

    async def _hand_over_to_poller(self, object_type: HubSpotObjectType, started_at_ms: int) -> None:
        cursor_type = KIND_OF_HUBSPOT_TYPE[object_type]
        if await self.cursors.load(self.poller.connector, cursor_type) is None:
            await self.cursors.save(self.poller.connector, cursor_type, PollCursor(started_at_ms).to_json())
