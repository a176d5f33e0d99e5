"""Full HubSpot records (read by the poller, a backfill or a manual pull) as change events.

A record is a ``SNAPSHOT``; an archived one is a ``DELETION`` (it was deleted in HubSpot); a
record whose ``hs_merged_object_ids`` lists ids also yields a ``MERGE`` event, so records merged
away while no webhook was listening stop syncing too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hubsync.connectors.hubspot.sources.change_events import from_record, message_key
from hubsync.hubspot_model.objects import MODIFIED_PROPERTY_OF_TYPE, HubSpotObjectType
from hubsync.records.kinds import HUBSPOT_TYPES, RECORD_ID_PROPERTY
from hubsync.storage.portal_scope import portal_connection

#: properties every read asks for, whatever the field mappings say: what duplicate detection,
#: the version guard and merge detection need, and ``hubsync_record_id``: a record the push
#: agent created whose answer never came back (timeout, dropped connection, crash) is linked by
#: it to its platform record when first read, instead of being mirrored as a second record
REQUIRED_PROPERTIES: dict[HubSpotObjectType, tuple[str, ...]] = {
    "contacts": (
        "email",
        "hs_additional_emails",
        "firstname",
        "lastname",
        "company",
        "hs_merged_object_ids",
        RECORD_ID_PROPERTY,
    ),
    "companies": ("name", "domain", "hs_merged_object_ids", RECORD_ID_PROPERTY),
}

Message = tuple[str, Mapping[str, Any]]


def read_properties(object_type: HubSpotObjectType, mapped: list[str]) -> list[str]:
    """The properties to request: the mapped ones plus :data:`REQUIRED_PROPERTIES`."""
    return sorted({*mapped, *REQUIRED_PROPERTIES[object_type], MODIFIED_PROPERTY_OF_TYPE[object_type]})


def record_events(
    object_type: HubSpotObjectType,
    record: Mapping[str, Any],
    *,
    source: str,
    received_at_ms: int,
    portal_id: int | None = None,
) -> list[Message]:
    """``(key, value)`` pairs for one record of ``portal_id``: its snapshot (or deletion) and a
    merge if any (keys: :func:`message_key`)."""
    value = from_record(
        object_type, record, source=source, received_at_ms=received_at_ms, portal_id=portal_id
    )
    record_id = str(value["object_id"])
    key = message_key(portal_id, record_id)
    if value["archived"]:
        value["change_type"] = "DELETION"
    events: list[Message] = [(key, value)]
    merged = [i for i in (value["properties"].get("hs_merged_object_ids") or "").split(";") if i.strip()]
    if merged:
        merge = dict(value)
        merge.update(
            event_id=f"merge:{record_id}:{';'.join(sorted(merged))}",
            change_type="MERGE",
            partial=True,
            properties={},
            property_timestamps={},
            associated_company_ids=[],
            merge={"primary_object_id": record_id, "merged_object_ids": merged, "new_object_id": None},
        )
        events.append((key, merge))
    return events


async def mapped_properties(
    pool: AsyncConnectionPool[Any], portal_id: int | None = None
) -> dict[HubSpotObjectType, list[str]]:
    """The HubSpot properties of ``portal_id``'s field mappings (None: the connection's portal;
    ``hubsync db migrate`` and an install load the defaults)."""
    mapped: dict[HubSpotObjectType, list[str]] = {"contacts": [], "companies": []}
    async with portal_connection(pool, portal_id) as conn:
        cur = await conn.execute("SELECT object_type, hubspot_property FROM hubsync.field_mappings")
        for object_type, prop in await cur.fetchall():
            mapped[HUBSPOT_TYPES[object_type]].append(prop)
    return {ot: read_properties(ot, props) for ot, props in mapped.items()}


class PortalProperties:
    """:func:`mapped_properties` per portal, read again after ``ttl_s`` (a mapping added with
    ``hubsync settings`` is read within that time)."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._cache: dict[int | None, tuple[dict[HubSpotObjectType, list[str]], float]] = {}

    async def get(self, portal_id: int | None) -> dict[HubSpotObjectType, list[str]]:
        cached = self._cache.get(portal_id)
        if cached is not None and time.monotonic() - cached[1] <= self._ttl_s:
            return cached[0]
        properties = await mapped_properties(self._pool, portal_id)
        self._cache[portal_id] = (properties, time.monotonic())
        return properties
