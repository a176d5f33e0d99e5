"""Publish HubSpot change events to their topic by role, Avro-encoded, acknowledged by Kafka."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubsync.avro.schemas import SchemaRepository
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import TopicNames
from hubsync.streams.producer import AsyncKafkaPublisher, OutgoingMessage

CHANGE_EVENT_SCHEMA = "hubspot_change_event"


class ChangeEventPublisher:
    """``publish(role, [(key, value)])`` for the poller, backfills and manual pulls."""

    def __init__(
        self,
        publisher: AsyncKafkaPublisher,
        topics: TopicNames,
        *,
        source: str,
        metrics: ConnectorMetrics | None = None,
        repository: SchemaRepository | None = None,
    ) -> None:
        self.publisher = publisher
        self.topics = topics
        self.source = source
        self.metrics = metrics
        self.schema = (repository or SchemaRepository()).current(CHANGE_EVENT_SCHEMA)

    async def publish(self, role: str, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        topic = str(getattr(self.topics, role))
        sent = await self.publisher.publish_records(
            topic, self.schema, [OutgoingMessage(key=key, value=value) for key, value in messages]
        )
        if self.metrics is not None:
            self.metrics.events_published.labels(topic, self.source).inc(sent)
