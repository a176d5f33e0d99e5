"""The incremental HubSpot poller: records modified since the cursor, read through search,
published to Kafka, the cursor saved only after Kafka acknowledged.

Each poll reads ``[watermark - overlap, now - settle)``: HubSpot's search index takes a few
seconds to show a change, so the newest seconds are left for the next poll and the last
``overlap`` is read again; records already published in that overlap (kept in the cursor as
``id:modified``) are dropped, so a record is published once per modification.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubsync._runtime.crashpoints import crash_point
from hubsync.connectors.hubspot.sources.cursors import CursorStore, PollCursor
from hubsync.connectors.hubspot.sources.record_events import Message, record_events
from hubsync.connectors.hubspot.sources.search_windows import SearchApi, Window, modified_ms, read_window
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.metrics import ConnectorMetrics
from hubsync.records.kinds import KIND_OF_HUBSPOT_TYPE

TOPIC_ROLE: dict[HubSpotObjectType, str] = {"contacts": "hubspot_contacts", "companies": "hubspot_companies"}
#: the topic roles of full reads (backfills, ``pull --full``): the backfill lane
BACKFILL_ROLE: dict[HubSpotObjectType, str] = {
    "contacts": "hubspot_contacts_backfill",
    "companies": "hubspot_companies_backfill",
}


class EventPublisher(Protocol):
    """Publishes keyed Avro values to a topic role and returns once Kafka acknowledged them."""

    async def publish(self, role: str, messages: Sequence[Message]) -> None: ...


@dataclass(frozen=True, slots=True)
class PollerConfig:
    connector: str = "poller"
    overlap_ms: int = 60_000
    settle_ms: int = 5_000
    #: where a poll without a cursor starts (0: every record HubSpot has, through search)
    initial_watermark_ms: int = 0
    #: the ``source`` of the events (POLLER; MANUAL_PULL for ``hubsync pull``)
    source: str = "POLLER"


@dataclass(frozen=True, slots=True)
class PollResult:
    published: int
    skipped: int
    watermark_ms: int


class IncrementalPoller:
    def __init__(
        self,
        api: SearchApi,
        publisher: EventPublisher,
        cursors: CursorStore,
        properties: Mapping[HubSpotObjectType, list[str]],
        *,
        config: PollerConfig | None = None,
        metrics: ConnectorMetrics | None = None,
        clock: Callable[[], float] = time.time,
        portal_id: int | None = None,
    ) -> None:
        self.api = api
        self.publisher = publisher
        self.cursors = cursors
        self.properties = properties
        #: the portal polled (its events carry it); None: a private app's
        self.portal_id = portal_id
        self.config = config or PollerConfig()
        self.metrics = metrics
        self.clock = clock

    async def cursor(self, object_type: HubSpotObjectType) -> PollCursor:
        saved = await self.cursors.load(self.config.connector, KIND_OF_HUBSPOT_TYPE[object_type])
        return PollCursor.from_json(saved) if saved else PollCursor(self.config.initial_watermark_ms)

    async def poll_once(self, object_type: HubSpotObjectType) -> PollResult:
        """Publish every change not yet published, up to ``now - settle``; checkpoint per page."""
        cfg = self.config
        cursor = await self.cursor(object_type)
        now_ms = int(self.clock() * 1000)
        end = now_ms - cfg.settle_ms
        start = max(0, cursor.watermark_ms - cfg.overlap_ms)
        published = skipped = 0
        if end <= start:
            return PollResult(0, 0, cursor.watermark_ms)
        seen = set(cursor.seen)
        watermark = cursor.watermark_ms
        async for page in read_window(
            self.api, object_type, Window(start, end), self.properties[object_type]
        ):
            batch: list[Message] = []
            for record in page:
                key = f"{record['id']}:{modified_ms(record)}"
                if key in seen:
                    skipped += 1
                    continue
                seen.add(key)
                batch.extend(
                    record_events(
                        object_type,
                        record,
                        source=cfg.source,
                        received_at_ms=now_ms,
                        portal_id=self.portal_id,
                    )
                )
            if batch:
                await self.publisher.publish(TOPIC_ROLE[object_type], batch)
                published += len(batch)
                crash_point("poller.after_publish")
            watermark = max(watermark, modified_ms(page[-1]))
            await self._save(object_type, watermark, seen)
            if batch:
                crash_point("poller.after_cursor")
        watermark = max(watermark, end)
        await self._save(object_type, watermark, seen)
        if self.metrics is not None:
            labels = (cfg.connector, KIND_OF_HUBSPOT_TYPE[object_type])
            self.metrics.cursor_lag.labels(*labels).set(max(0.0, self.clock() - watermark / 1000))
            self.metrics.last_poll.labels(*labels).set(self.clock())
        return PollResult(published, skipped, watermark)

    async def _save(self, object_type: HubSpotObjectType, watermark: int, seen: set[str]) -> None:
        """Keep only the ``seen`` keys the next poll's overlap can meet again."""
        floor = watermark - self.config.overlap_ms
        seen -= {k for k in seen if int(k.rsplit(":", 1)[1]) < floor}
        cursor = PollCursor(watermark, frozenset(seen))
        await self.cursors.save(self.config.connector, KIND_OF_HUBSPOT_TYPE[object_type], cursor.to_json())
