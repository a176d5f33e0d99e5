"""Full reads of a HubSpot object type by list paging (``hubsync poller --full``, ``hubsync pull
--full``): every active record, then every archived one, resumable from a durable cursor.

The next page is requested while the current one is published, and a page's publication is not
waited for before the next page is read: the cursor (a page's ``after``) is saved every 20 pages or
second, once Kafka acknowledged every page it covers (:class:`Checkpoints`), so the read is never
held up by an acknowledgement or a cursor write per page.
When a backfill finishes and the incremental poller has no cursor yet, the poller starts from
the backfill's start time (minus its overlap), so nothing changed meanwhile is missed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
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


class Checkpoints:
    """Pages are published without waiting for each acknowledgement; the cursor is saved once every
    page it covers is acknowledged, every ``every_pages`` pages or ``every_s`` seconds and after the
    last page of a phase. A crash re-reads at most the pages since the last save (at-least-once, as
    before: the events are keyed and applied idempotently)."""

    def __init__(
        self,
        save: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        every_pages: int = 20,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save
        self._every_pages = every_pages
        self._every_s = every_s
        self._clock = clock
        self._pending: list[asyncio.Future[None]] = []
        self._position: dict[str, Any] | None = None
        self._saved_at = clock()
        #: cursor saves made (tests)
        self.saves = 0

    async def add(
        self, sending: asyncio.Future[None] | None, position: dict[str, Any], *, last: bool
    ) -> None:
        """Page done reading: ``sending`` its publication (None: nothing to publish), ``position`` the
        cursor once it is acknowledged."""
        if sending is not None:
            self._pending.append(sending)
        self._position = position
        due = len(self._pending) >= self._every_pages or self._clock() - self._saved_at >= self._every_s
        if last or due:
            await self.flush()

    async def flush(self) -> None:
        """Wait for every publication so far, then save the cursor they lead to."""
        pending, self._pending = self._pending, []
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:  # every publication ended; the first failure is the backfill's
            raise failed[0]
        if self._position is not None:
            await self._save(self._position)
            self.saves += 1
        self._saved_at = self._clock()

    async def abandon(self) -> None:
        """A failure: let the publications in flight end (their errors are the failure's), save nothing."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending, return_exceptions=True)


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
        checkpoint_pages: int = 20,
        checkpoint_s: float = 1.0,
    ) -> None:
        self.api = api
        #: the cursor is saved every this many pages or seconds (see :class:`Checkpoints`)
        self.checkpoint_pages = checkpoint_pages
        self.checkpoint_s = checkpoint_s
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
        checkpoints = Checkpoints(
            lambda position: self.cursors.save(self.connector, cursor_type, position),
            every_pages=self.checkpoint_pages,
            every_s=self.checkpoint_s,
        )
        try:
            records, published, pages = await self._read(object_type, state, checkpoints)
        except BaseException:
            await checkpoints.abandon()
            raise
        state.update(phase="done", after=None)
        await self.cursors.save(self.connector, cursor_type, state)
        await self._hand_over_to_poller(object_type, int(state["started_at_ms"]))
        return BackfillResult(records, published, pages, time.perf_counter() - started, resumed)

    async def _read(
        self, object_type: HubSpotObjectType, state: dict[str, Any], checkpoints: Checkpoints
    ) -> tuple[int, int, int]:
        """Every page from ``state`` on, each published while the next is read; the cursor saved
        by ``checkpoints`` once the pages it covers are acknowledged."""
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
                sending = (
                    asyncio.ensure_future(self.publisher.publish(BACKFILL_ROLE[object_type], messages))
                    if messages
                    else None
                )
                records += len(page.results)
                published += len(messages)
                pages += 1
                state.update(phase=phase, after=page.after)
                await checkpoints.add(sending, dict(state), last=not page.after)
                if self.progress is not None:
                    self.progress(len(page.results))
                if not page.after:
                    break
        return records, published, pages

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
