"""Publish a parsed webhook batch exactly as often as needed: dedupe, publish, await Kafka's
acknowledgement, then record the keys.

Order matters for at-least-once delivery: keys are recorded only after Kafka acknowledged their
events, so a crash (or a failed insert) between the two makes HubSpot's retry publish the events
again (a harmless duplicate downstream), never lose them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from hubsync._runtime.crashpoints import crash_point
from hubsync.connectors.hubspot.webhooks.event_keys import InFlightKeys, WebhookDedupe
from hubsync.connectors.hubspot.webhooks.parse import ParsedBatch, ParsedEvent
from hubsync.errors import RetriableError
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage


@dataclass(frozen=True, slots=True)
class IngestResult:
    #: events published, per topic name
    published: Mapping[str, int]
    #: events not published again: already recorded, published by a concurrent request, or
    #: repeated inside the batch
    duplicates: int

    @property
    def published_total(self) -> int:
        return sum(self.published.values())


class WebhookIngestor:
    """Dedupes and publishes batches; ``topics`` maps topic roles to topic names."""

    def __init__(
        self,
        publisher: AsyncKafkaPublisher,
        dedupe: WebhookDedupe,
        topics: Mapping[str, str],
        *,
        publish_timeout_s: float = 4.0,
    ) -> None:
        self.publisher = publisher
        self.dedupe = dedupe
        self.topics = dict(topics)
        self.publish_timeout_s = publish_timeout_s
        self.in_flight = InFlightKeys()

    async def ingest(self, batch: ParsedBatch, *, timeout_s: float | None = None) -> IngestResult:
        """Publish the events of ``batch`` not published before; raises :class:`RetriableError`
        (answer 503, HubSpot retries) when Kafka or PostgreSQL fails."""
        timeout = self.publish_timeout_s if timeout_s is None else timeout_s
        owned, others = self.in_flight.claim(event.dedupe_key for event in batch.events)
        ok = False
        try:
            owned_set = set(owned)
            seen = await self.dedupe.seen(owned)
            fresh = [e for e in batch.events if e.dedupe_key in owned_set and e.dedupe_key not in seen]
            published = await self._publish(fresh, timeout)
            if fresh:
                crash_point("webhook.after_publish")
            await self.dedupe.record([event.dedupe_key for event in fresh])
            if fresh:
                crash_point("webhook.after_dedupe")
            ok = True
        finally:
            self.in_flight.release(owned, ok=ok)
        if others:
            # another request of this process is publishing some of these events: answer only
            # once it has succeeded, so a 2xx always means "in Kafka"
            try:
                outcomes = await asyncio.wait_for(asyncio.gather(*map(asyncio.shield, others)), timeout)
            except TimeoutError:
                raise RetriableError("a concurrent delivery of the same events is still publishing") from None
            if not all(outcomes):
                raise RetriableError("a concurrent delivery of the same events failed")
        return IngestResult(published, len(seen) + len(others) + batch.repeated)

    async def _publish(self, events: list[ParsedEvent], timeout_s: float) -> dict[str, int]:
        by_topic: dict[str, list[EncodedMessage]] = defaultdict(list)
        for event in events:
            by_topic[self.topics[event.role]].append(EncodedMessage(event.key.encode(), event.value))
        if not by_topic:
            return {}
        topics = list(by_topic)
        results = await asyncio.gather(
            *(self.publisher.publish(topic, by_topic[topic], timeout_s=timeout_s) for topic in topics),
            return_exceptions=True,
        )
        published: dict[str, int] = {}
        for topic, result in zip(topics, results, strict=True):
            if isinstance(result, RetriableError):
                raise result
            if isinstance(result, BaseException):
                raise RetriableError(f"publishing to Kafka failed: {result}") from result
            published[topic] = result
        return published
