"""HubSpot's webhook event objects, built from the sandbox's :class:`ChangeEvent` (pure functions).

Field names follow HubSpot's webhooks documentation and changelog ("New subscription types for
webhooks" for merge and association changes) and payloads HubSpot actually sent, as quoted in
public code: every event has ``eventId``, ``subscriptionId``, ``portalId``, ``appId``,
``occurredAt``, ``subscriptionType``, ``attemptNumber``, ``objectId`` and ``changeSource``, plus
``sourceId`` when the writer is known (the app id for ``INTEGRATION``, ``userId:N`` for UI edits).

``changeFlag``: recent deliveries carry ``CREATED`` for creations (HubSpot's older documentation
and test events showed ``NEW``) and ``DELETED`` for deletions; property changes carry none. For
merges, restores and privacy deletions no delivery was found to copy, so the sandbox sends the
names HubSpot uses for these states (``MERGED``, ``RESTORED``, ``PRIVACY_DELETED``); association
changes carry none. Receivers should rely on ``subscriptionType``, not on ``changeFlag``.
"""

from __future__ import annotations

import zlib
from typing import Any

from hubsync.sandbox.events import ChangeEvent

CHANGE_FLAGS: dict[str, str] = {
    "creation": "CREATED",
    "deletion": "DELETED",
    "merge": "MERGED",
    "restore": "RESTORED",
    "privacyDeletion": "PRIVACY_DELETED",
}

#: Stable subscription ids, one per subscription type, as an app with every CRM subscription
#: active would see them.
SUBSCRIPTION_IDS: dict[str, int] = {
    f"{object_type}.{kind}": 4_100_000 + 100 * object_index + kind_index
    for object_index, object_type in enumerate(("contact", "company"), start=1)
    for kind_index, kind in enumerate(
        (
            "creation",
            "deletion",
            "propertyChange",
            "merge",
            "restore",
            "associationChange",
            "privacyDeletion",
        ),
        start=1,
    )
}

#: association type ids (CRM v4) of the primary contact <-> company association
_PRIMARY_ASSOCIATION_TYPE_IDS = frozenset({1, 2})


def subscription_id(subscription_type: str) -> int:
    """The subscription id for ``subscription_type`` (stable across runs, also for unknown types)."""
    known = SUBSCRIPTION_IDS.get(subscription_type)
    if known is not None:
        return known
    return 5_000_000 + zlib.crc32(subscription_type.encode("utf-8")) % 1_000_000


def _as_int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"true", "1", "yes"}


def to_hubspot_json(
    event: ChangeEvent, *, event_id: int, attempt: int, portal_id: int, app_id: int
) -> dict[str, Any]:
    """The JSON object HubSpot would send for ``event`` on delivery attempt ``attempt`` (0-based).

    ``event.extra`` adds further top-level fields (string values, e.g. ``numberOfPropertiesMoved``
    or ``isPrimaryAssociation`` when the store knows them); it never overrides a computed field.
    """
    subscription_type = event.subscription_type
    body: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": subscription_id(subscription_type),
        "portalId": portal_id,
        "appId": app_id,
        "occurredAt": event.occurred_at_ms,
        "subscriptionType": subscription_type,
        "attemptNumber": attempt,
        "objectId": event.object_id,
    }
    flag = CHANGE_FLAGS.get(event.kind)
    if flag is not None:
        body["changeFlag"] = flag
    body["changeSource"] = event.writer.change_source
    if event.writer.source_id is not None:
        body["sourceId"] = event.writer.source_id

    if event.kind == "propertyChange":
        body["propertyName"] = event.property_name
        body["propertyValue"] = "" if event.property_value is None else event.property_value
    elif event.kind == "merge":
        primary = event.object_id if event.primary_object_id is None else event.primary_object_id
        body["primaryObjectId"] = primary
        body["mergedObjectIds"] = list(event.merged_object_ids)
        body["newObjectId"] = primary if event.new_object_id is None else event.new_object_id
        body["numberOfPropertiesMoved"] = _as_int(event.extra.get("numberOfPropertiesMoved"))
    elif event.kind == "associationChange":
        to_type = event.to_object_type or ("company" if event.object_type == "contact" else "contact")
        primary_flag = event.extra.get("isPrimaryAssociation")
        body["associationType"] = f"{event.object_type}_TO_{to_type}".upper()
        body["fromObjectId"] = event.object_id
        body["toObjectId"] = event.to_object_id
        body["associationRemoved"] = event.association_removed
        body["isPrimaryAssociation"] = (
            _truthy(primary_flag)
            if primary_flag is not None
            else event.association_type_id in _PRIMARY_ASSOCIATION_TYPE_IDS
        )

    for key, value in event.extra.items():
        body.setdefault(key, value)
    return body
