"""HubSpot change events as Avro values of ``hubspot_change_event.avsc`` (pure functions).

Two sources feed the ``hubspot.*.changes`` topics:

* :func:`from_webhook`: one event of a webhook batch (``contact.*`` / ``company.*`` subscription
  types). Webhook events never carry a full record, so they are all ``partial``: a
  ``propertyChange`` holds the one changed property (timestamped with ``occurredAt``), the other
  types hold no properties at all.
* :func:`from_record`: a full HubSpot record read from the API (poller, backfill, manual pull),
  published as a ``SNAPSHOT``.

Anything that cannot be mapped raises a :class:`~hubsync.errors.SkippableRecordError` subclass
whose message says why; callers skip (and count) that one event and carry on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from hubsync.connectors.hubspot.webhooks.fields import (
    CHANGE_TYPES,
    MAX_MILLIS,
    OBJECT_TYPES,
    InvalidChangeEventError,
    UnknownSubscriptionTypeError,
    association,
    change_source,
    object_id,
    opt_id,
    require_id,
    require_millis,
    split_subscription_type,
)

__all__ = [
    "CHANGE_TYPES",
    "OBJECT_TYPES",
    "RECORD_SOURCES",
    "ChangeEventMessage",
    "InvalidChangeEventError",
    "UnknownSubscriptionTypeError",
    "event_key",
    "from_record",
    "from_webhook",
    "message_key",
]

#: ``source`` values a full record can come from (``WEBHOOK``: read after a webhook said it changed)
RECORD_SOURCES = frozenset({"POLLER", "BACKFILL", "MANUAL_PULL", "REPLAY", "WEBHOOK"})


class ChangeEventMessage(NamedTuple):
    """What to publish: the topic role (a :class:`~hubsync.settings.TopicNames` field), the message
    key (the HubSpot object id) and the Avro value."""

    role: str
    key: str
    value: dict[str, Any]


def message_key(portal_id: int | None, object_id: str) -> str:
    """The Kafka key of a record's change: ``<portal>:<object id>`` (partitions spread portals and
    keep each record's order; HubSpot ids are unique only within a portal), or the object id alone
    when the portal is not known."""
    return object_id if portal_id is None else f"{int(portal_id)}:{object_id}"


def _key_part(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def event_key(event: Mapping[str, Any]) -> bytes:
    """A 16-byte digest identifying one webhook event across redeliveries.

    HubSpot's ``eventId`` is not unique on its own, so the key covers (portalId, subscriptionId,
    eventId, objectId, occurredAt, propertyName). ``attemptNumber`` is left out on purpose: a
    retry is the same event. Numbers and their decimal strings give the same key.
    """
    parts = [
        _key_part(event.get(name))
        for name in ("portalId", "subscriptionId", "eventId", "objectId", "occurredAt", "propertyName")
    ]
    if parts[3] is None and event.get("fromObjectId") is not None:
        parts[3] = _key_part(event.get("fromObjectId"))  # association changes may carry no objectId
    encoded = json.dumps(parts, separators=(",", ":")).encode("utf-8")
    return hashlib.blake2b(encoded, digest_size=16).digest()


def _property_value(event: Mapping[str, Any]) -> str | None:
    value = event.get("propertyValue")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InvalidChangeEventError(f"propertyValue is a {type(value).__name__}, expected a string")


def _base_value(
    event: Mapping[str, Any], object_type: str, change_type: str, obj_id: str, received_at_ms: int
) -> dict[str, Any]:
    occurred_at = require_millis(event, "occurredAt")
    portal = opt_id(event, "portalId")
    portal_id = int(portal) if portal is not None else None
    if portal_id is not None and portal_id > MAX_MILLIS:
        raise InvalidChangeEventError("portalId is out of range")
    source, source_id = change_source(event)
    return {
        "event_id": event_key(event).hex(),
        "object_type": object_type,
        "object_id": obj_id,
        "change_type": change_type,
        "source": "WEBHOOK",
        "occurred_at": occurred_at,
        "received_at": received_at_ms,
        "portal_id": portal_id,
        "updated_at": None,
        "created_at": occurred_at if change_type == "CREATION" else None,
        "archived": change_type == "DELETION",
        "partial": True,
        "properties": {},
        "property_timestamps": {},
        "change_source": source,
        "source_id": source_id,
        "associated_company_ids": [],
        "merge": None,
        "association": None,
    }


def from_webhook(event: Mapping[str, Any], *, received_at_ms: int) -> ChangeEventMessage:
    """Map one HubSpot webhook event to ``(topic role, key, Avro value)``.

    Raises :class:`UnknownSubscriptionTypeError` for subscription types hubsync does not consume
    (other objects, unknown kinds) and :class:`InvalidChangeEventError` for missing or malformed
    fields.
    """
    if not isinstance(event, Mapping):
        raise InvalidChangeEventError(f"event is a {type(event).__name__}, expected a JSON object")
    object_type, change_type, role = split_subscription_type(event.get("subscriptionType"))
    obj_id = object_id(event, change_type)
    value = _base_value(event, object_type, change_type, obj_id, received_at_ms)
    if change_type == "PROPERTY_CHANGE":
        name = event.get("propertyName")
        if not isinstance(name, str) or not name:
            raise InvalidChangeEventError("propertyChange event without a propertyName")
        value["properties"] = {name: _property_value(event)}
        value["property_timestamps"] = {name: value["occurred_at"]}
    elif change_type == "MERGE":
        merged = event.get("mergedObjectIds")
        if not isinstance(merged, list) or not merged:
            raise InvalidChangeEventError("merge event without mergedObjectIds")
        value["merge"] = {
            "primary_object_id": require_id(event, "primaryObjectId"),
            "merged_object_ids": [require_id({"id": item}, "id", "mergedObjectIds[]") for item in merged],
            "new_object_id": opt_id(event, "newObjectId"),
        }
    elif change_type == "ASSOCIATION_CHANGE":
        value["association"] = association(event, object_type)
    return ChangeEventMessage(role, message_key(value["portal_id"], obj_id), value)


# -- full records ------------------------------------------------------------------------------


def _iso_millis(value: Any, what: str) -> int | None:
    """HubSpot's ISO-8601 timestamps (``2024-01-02T03:04:05.678Z``) or Unix ms, as Unix ms."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return round(parsed.timestamp() * 1000)
    raise InvalidChangeEventError(f"{what} is not an ISO-8601 timestamp with a zone: {value!r}")


def _history_timestamps(history: Any) -> tuple[dict[str, str | None], dict[str, int]]:
    """Latest value and change time per property from ``propertiesWithHistory``."""
    values: dict[str, str | None] = {}
    stamps: dict[str, int] = {}
    if not isinstance(history, Mapping):
        return values, stamps
    for name, entries in history.items():
        if not isinstance(entries, list):
            continue
        latest: tuple[int, Any] | None = None
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            when = _iso_millis(entry.get("timestamp"), f"propertiesWithHistory.{name}.timestamp")
            if when is not None and (latest is None or when > latest[0]):
                latest = (when, entry.get("value"))
        if latest is not None:
            stamps[str(name)] = latest[0]
            values[str(name)] = None if latest[1] is None else str(latest[1])
    return values, stamps


def _company_ids(record: Mapping[str, Any]) -> list[str]:
    """Company ids of a contact's ``associations`` (v3 ``id`` or v4 ``toObjectId`` entries)."""
    associations = record.get("associations")
    if not isinstance(associations, Mapping):
        return []
    block = associations.get("companies")
    results = block.get("results") if isinstance(block, Mapping) else None
    ids: list[str] = []
    for item in results if isinstance(results, list) else []:
        if isinstance(item, Mapping):
            found = item.get("id", item.get("toObjectId"))
            if found is not None and str(found) not in ids:
                ids.append(str(found))
    return ids


def from_record(
    object_type: str,
    record: Mapping[str, Any],
    *,
    source: str,
    received_at_ms: int,
    portal_id: int | None = None,
) -> dict[str, Any]:
    """A full HubSpot record (CRM v3 JSON) as a ``SNAPSHOT`` change event.

    ``object_type`` is ``contact`` or ``company`` (any case); ``source`` one of
    :data:`RECORD_SOURCES`. ``event_id`` is ``<id>:<updatedAt ms>``: the same version of a record
    read twice is the same change.
    """
    kind = OBJECT_TYPES.get(object_type.lower().removesuffix("s").replace("companie", "company"))
    if kind is None:
        raise InvalidChangeEventError(f"unknown object type {object_type!r}, expected contact or company")
    if source not in RECORD_SOURCES:
        raise ValueError(f"source must be one of {sorted(RECORD_SOURCES)}, got {source!r}")
    if not isinstance(record, Mapping):
        raise InvalidChangeEventError(f"record is a {type(record).__name__}, expected a JSON object")
    obj_id = require_id(record, "id")
    raw_properties = record.get("properties")
    properties: dict[str, str | None] = {}
    if isinstance(raw_properties, Mapping):
        properties = {str(k): None if v is None else str(v) for k, v in raw_properties.items()}
    history_values, stamps = _history_timestamps(record.get("propertiesWithHistory"))
    for name, latest in history_values.items():
        properties.setdefault(name, latest)
    modified = properties.get("lastmodifieddate") or properties.get("hs_lastmodifieddate")
    updated_at = _iso_millis(record.get("updatedAt"), "updatedAt") or _iso_millis(modified, "lastmodified")
    created_at = _iso_millis(record.get("createdAt"), "createdAt")
    occurred_at = updated_at or created_at or received_at_ms
    if not 0 <= occurred_at <= MAX_MILLIS:
        raise InvalidChangeEventError(f"record {obj_id}: timestamp out of range")
    return {
        "event_id": f"{obj_id}:{occurred_at}",
        "object_type": kind,
        "object_id": obj_id,
        "change_type": "SNAPSHOT",
        "source": source,
        "occurred_at": occurred_at,
        "received_at": received_at_ms,
        "portal_id": portal_id,
        "updated_at": updated_at,
        "created_at": created_at,
        "archived": bool(record.get("archived", False)),
        "partial": False,
        "properties": properties,
        "property_timestamps": stamps,
        "change_source": None,
        "source_id": None,
        "associated_company_ids": _company_ids(record) if kind == "CONTACT" else [],
        "merge": None,
        "association": None,
    }
