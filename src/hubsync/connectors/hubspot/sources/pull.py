"""Reading given HubSpot records by id (``hubsync pull contacts --id 1 --id 2``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.sources.poller import TOPIC_ROLE, EventPublisher
from hubsync.connectors.hubspot.sources.record_events import Message, record_events
from hubsync.hubspot_model.objects import HubSpotObjectType


@dataclass(frozen=True, slots=True)
class PullResult:
    records: int
    published: int
    #: ids HubSpot did not return, with its message (unknown ids answer 404 per input)
    missing: tuple[tuple[str, str], ...]


async def pull_ids(
    client: HubSpotClient,
    publisher: EventPublisher,
    object_type: HubSpotObjectType,
    ids: Sequence[str],
    properties: list[str],
    *,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.time,
    portal_id: int | None = None,
) -> PullResult:
    """Read ``ids`` with batch read (chunks of 100) and publish them as ``MANUAL_PULL`` events.
    Merged-away ids read as their primary, archived ones are read too (as deletions)."""
    outcome = await client.batch_read(object_type, list(ids), properties=properties)
    missing = [(str(f.input.get("id")), f.message or f"HTTP {f.status}") for f in outcome.failed]
    archived_ids = [i for i, _ in missing]
    if archived_ids:
        archived = await client.batch_read(object_type, archived_ids, properties=properties, archived=True)
        found = {str(s.input.get("id")) for s in archived.succeeded}
        missing = [(i, m) for i, m in missing if i not in found]
        succeeded = [*outcome.succeeded, *archived.succeeded]
    else:
        succeeded = list(outcome.succeeded)
    now_ms = int(clock() * 1000)
    messages: list[Message] = []
    for success in succeeded:
        messages.extend(
            record_events(
                object_type, success.result, source="MANUAL_PULL", received_at_ms=now_ms, portal_id=portal_id
            )
        )
    if messages:
        await publisher.publish(TOPIC_ROLE[object_type], messages)
    if progress is not None:
        progress(len(succeeded))
    return PullResult(len(succeeded), len(messages), tuple(missing))
