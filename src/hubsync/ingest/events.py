"""Decoded HubSpot change events, as the ingest reducer reads them.

:func:`change_event` turns a decoded ``HubSpotChangeEvent`` Avro value (fastavro gives aware
datetimes for ``timestamp-millis``; plain ints are accepted too) into a :class:`ChangeEvent` whose
times are Unix milliseconds, the unit every version comparison uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from hubsync.records.kinds import ObjectKind

#: ``HubSpotChangeEvent.object_type`` -> the platform's object kind
OBJECT_KINDS: Mapping[str, ObjectKind] = {"CONTACT": "contact", "COMPANY": "account"}


def to_ms(value: datetime | int | None) -> int | None:
    """Unix milliseconds of a decoded ``timestamp-millis`` (aware datetime or int)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return int(value)


@dataclass(frozen=True, slots=True)
class Association:
    """A contact-company association change, oriented contact -> company."""

    contact_id: str
    company_id: str
    removed: bool
    is_primary: bool


@dataclass(frozen=True, slots=True)
class Merge:
    """A HubSpot merge: ``away`` ids stop syncing; ``survivor`` is the record that remains."""

    survivor: str
    away: tuple[str, ...]


#: the empty mapping of an event without properties or timestamps (shared, so read-only)
NO_VALUES: Mapping[str, Any] = MappingProxyType({})


class ChangeEvent(NamedTuple):
    """One HubSpot change, with every time in Unix ms.

    ``version`` is the time the change is ordered by: HubSpot's ``updatedAt`` when the event
    carries it (full records), otherwise ``occurredAt`` (webhooks).

    A named tuple, not a frozen dataclass: ingest makes one per event, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) took 2.8 µs of the ~5 of decoding it into
    this, a tuple 0.3 (docs/decisions.md). Immutable all the same.
    """

    event_id: str
    kind: ObjectKind
    object_id: str
    change_type: str
    source: str
    occurred_at: int
    received_at: int
    version: int
    created_at: int | None = None
    archived: bool = False
    partial: bool = False
    properties: Mapping[str, str | None] = NO_VALUES
    property_timestamps: Mapping[str, int] = NO_VALUES
    change_source: str | None = None
    source_id: str | None = None
    associated_company_ids: tuple[str, ...] = ()
    merge: Merge | None = None
    association: Association | None = None
    #: the HubSpot portal the change happened in (None: not said, a private app's past events)
    portal_id: int | None = None

    def property_version(self, name: str) -> int:
        """When HubSpot changed ``name``: its own timestamp, else the event's version."""
        return self.property_timestamps.get(name, self.version)


def _merge(value: Mapping[str, Any] | None) -> Merge | None:
    if not value:
        return None
    primary = str(value["primary_object_id"])
    new_id = value.get("new_object_id")
    survivor = str(new_id) if new_id else primary
    away = {str(i) for i in value.get("merged_object_ids") or ()}
    if survivor != primary:
        away.add(primary)
    away.discard(survivor)
    return Merge(survivor=survivor, away=tuple(sorted(away)))


def _association(value: Mapping[str, Any] | None) -> Association | None:
    if not value:
        return None
    ends = {
        value["from_object_type"]: str(value["from_object_id"]),
        value["to_object_type"]: str(value["to_object_id"]),
    }
    if set(ends) != {"CONTACT", "COMPANY"}:
        return None  # contact-contact or company-company: not mirrored
    return Association(
        contact_id=ends["CONTACT"],
        company_id=ends["COMPANY"],
        removed=bool(value.get("removed")),
        is_primary=bool(value.get("is_primary")),
    )


def _stamps_ms(stamps: Mapping[str, Any]) -> Mapping[str, int]:
    """``property_timestamps`` in Unix ms: as decoded when they are ints already (ingest decodes
    logical types as their underlying type, and a per-value conversion was ~3% of its time)."""
    for stamp in stamps.values():
        if type(stamp) is not int:
            return {k: to_ms(v) or 0 for k, v in stamps.items()}
    return stamps


def change_event(value: Mapping[str, Any]) -> ChangeEvent:
    """The :class:`ChangeEvent` of a decoded ``HubSpotChangeEvent`` value."""
    occurred_at = to_ms(value["occurred_at"])
    assert occurred_at is not None  # required by the schema
    updated_at = to_ms(value.get("updated_at"))
    get = value.get
    stamps = get("property_timestamps")
    # positional, in the fields' order (a keyword call costs three times as much)
    return ChangeEvent(
        value["event_id"],
        OBJECT_KINDS[value["object_type"]],
        str(value["object_id"]),
        value["change_type"],
        value["source"],
        occurred_at,
        to_ms(value["received_at"]) or occurred_at,
        updated_at if updated_at is not None else occurred_at,
        to_ms(get("created_at")),
        bool(get("archived")),
        bool(get("partial")),
        get("properties") or NO_VALUES,
        _stamps_ms(stamps) if stamps else NO_VALUES,
        get("change_source"),
        get("source_id"),
        tuple(str(i) for i in get("associated_company_ids") or ()),
        _merge(get("merge")),
        _association(get("association")),
        get("portal_id"),
    )
