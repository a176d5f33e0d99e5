"""Builders of decoded ``HubSpotChangeEvent`` values (dicts shaped like ``schemas/hubspot_change_event.avsc``
as fastavro decodes them, times as Unix ms) and of the :class:`ChangeEvent` the reducer reads.

Every builder returns the dict; :func:`ce` turns one into a ``ChangeEvent``. Event ids are stable
for the same arguments (a redelivery is the same dict again), unless ``event_id`` is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hubsync.ingest.events import ChangeEvent, change_event

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "hubspot_change_event.avsc"

Value = dict[str, Any]


def schema() -> dict[str, Any]:
    """The parsed ``HubSpotChangeEvent`` schema."""
    return dict(json.loads(SCHEMA_PATH.read_text("utf-8")))


def base(
    object_id: str,
    change_type: str,
    *,
    at: int,
    object_type: str = "CONTACT",
    source: str = "POLLER",
    updated_at: int | None = None,
    created_at: int | None = None,
    properties: Mapping[str, str | None] | None = None,
    property_timestamps: Mapping[str, int] | None = None,
    archived: bool = False,
    partial: bool = False,
    associated_company_ids: Iterable[str] = (),
    merge: Mapping[str, Any] | None = None,
    association: Mapping[str, Any] | None = None,
    change_source: str | None = None,
    source_id: str | None = None,
    event_id: str | None = None,
) -> Value:
    """A complete decoded value; every schema field is present."""
    return {
        "event_id": event_id or f"{object_type}-{object_id}-{change_type}-{at}",
        "object_type": object_type,
        "object_id": object_id,
        "change_type": change_type,
        "source": source,
        "occurred_at": at,
        "received_at": at + 5,
        "portal_id": 1234,
        "updated_at": updated_at,
        "created_at": created_at,
        "archived": archived,
        "partial": partial,
        "properties": dict(properties or {}),
        "property_timestamps": dict(property_timestamps or {}),
        "change_source": change_source,
        "source_id": source_id,
        "associated_company_ids": list(associated_company_ids),
        "merge": dict(merge) if merge is not None else None,
        "association": dict(association) if association is not None else None,
    }


def snapshot(
    object_id: str,
    properties: Mapping[str, str | None],
    *,
    at: int,
    object_type: str = "CONTACT",
    source: str = "POLLER",
    property_timestamps: Mapping[str, int] | None = None,
    companies: Iterable[str] = (),
    created_at: int | None = None,
    archived: bool = False,
    event_id: str | None = None,
) -> Value:
    """A full record read by the poller/backfill/pull: ``updated_at`` = ``at``."""
    return base(
        object_id,
        "SNAPSHOT",
        at=at,
        object_type=object_type,
        source=source,
        updated_at=at,
        created_at=created_at if created_at is not None else at,
        properties=properties,
        property_timestamps=property_timestamps,
        archived=archived,
        associated_company_ids=companies,
        event_id=event_id,
    )


def company_snapshot(object_id: str, properties: Mapping[str, str | None], *, at: int, **kw: Any) -> Value:
    return snapshot(object_id, properties, at=at, object_type="COMPANY", **kw)


def creation(
    object_id: str,
    properties: Mapping[str, str | None],
    *,
    at: int,
    object_type: str = "CONTACT",
    source: str = "WEBHOOK",
) -> Value:
    """A ``*.creation`` webhook (no ``updated_at``: ordered by ``occurred_at``)."""
    return base(
        object_id,
        "CREATION",
        at=at,
        object_type=object_type,
        source=source,
        created_at=at,
        properties=properties,
        property_timestamps=dict.fromkeys(properties, at),
        change_source="CRM_UI",
    )


def property_change(
    object_id: str,
    name: str,
    value: str | None,
    *,
    at: int,
    object_type: str = "CONTACT",
    source: str = "WEBHOOK",
    change_source: str = "CRM_UI",
    source_id: str | None = None,
) -> Value:
    """A ``*.propertyChange`` webhook for one property, timestamped ``at``."""
    return base(
        object_id,
        "PROPERTY_CHANGE",
        at=at,
        object_type=object_type,
        source=source,
        partial=True,
        properties={name: value},
        property_timestamps={name: at},
        change_source=change_source,
        source_id=source_id,
        event_id=f"{object_type}-{object_id}-PROPERTY_CHANGE-{name}-{at}",
    )


def deletion(object_id: str, *, at: int, object_type: str = "CONTACT") -> Value:
    return base(object_id, "DELETION", at=at, object_type=object_type, source="WEBHOOK")


def restore(object_id: str, *, at: int, object_type: str = "CONTACT") -> Value:
    return base(object_id, "RESTORE", at=at, object_type=object_type, source="WEBHOOK")


def merge(
    primary: str,
    merged: Iterable[str],
    *,
    at: int,
    new_id: str | None = None,
    object_type: str = "CONTACT",
) -> Value:
    """A ``*.merge`` webhook, keyed by the primary record."""
    return base(
        primary,
        "MERGE",
        at=at,
        object_type=object_type,
        source="WEBHOOK",
        merge={"primary_object_id": primary, "merged_object_ids": list(merged), "new_object_id": new_id},
    )


def association(
    contact_id: str,
    company_id: str,
    *,
    at: int,
    removed: bool = False,
    is_primary: bool = False,
    from_company: bool = False,
) -> Value:
    """A ``contact.associationChange`` (or, ``from_company``, ``company.associationChange``)."""
    contact_end = ("CONTACT", contact_id)
    company_end = ("COMPANY", company_id)
    first, second = (company_end, contact_end) if from_company else (contact_end, company_end)
    return base(
        first[1],
        "ASSOCIATION_CHANGE",
        at=at,
        object_type=first[0],
        source="WEBHOOK",
        association={
            "from_object_type": first[0],
            "from_object_id": first[1],
            "to_object_type": second[0],
            "to_object_id": second[1],
            "removed": removed,
            "is_primary": is_primary,
        },
        event_id=f"ASSOC-{contact_id}-{company_id}-{'removed' if removed else 'added'}-{at}",
    )


def privacy_deletion(object_id: str, *, at: int) -> Value:
    return base(object_id, "PRIVACY_DELETION", at=at, source="WEBHOOK")


def ce(value: Mapping[str, Any]) -> ChangeEvent:
    """The reducer's view of a decoded value."""
    return change_event(value)


def ces(values: Iterable[Mapping[str, Any]]) -> list[ChangeEvent]:
    return [change_event(v) for v in values]
