"""What the push agent sends to HubSpot for a batch of platform-side changes (pure, no I/O).

The rules (SPEC section 1, "Push" and "Delete and merge"):

* changes to one record are **coalesced** (in offset order; a later value of a field replaces an
  earlier one), so a record is written at most once per batch;
* a record **linked** to HubSpot (it has a HubSpot id) is always kept in sync: its changed mapped
  fields are updated whatever ``push.enabled`` / ``push.scope`` say; unmapped fields never sync,
  except a value a person set by hand (``manual``), which always goes;
* a **net-new** record (no HubSpot id) is created when ``push.enabled`` and ``push.scope = all``, or
  when a person asked (``hubsync push``, a manual enrichment); otherwise it stays local;
* a record **merged away in the platform**, **deleted or merged away in HubSpot**, or **erased** is
  never pushed again; a platform-side delete is not propagated (docs/push.md);
* **later change wins**: a field HubSpot changed after the platform's edit (the mirrored value's
  version is HubSpot's and newer) is not overwritten; the ingest already logged the loser.
Creates carry the platform id in ``hubsync_record_id`` (a unique-value HubSpot property) and go
through batch **upsert** on it, so a retried create finds its own earlier create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hubsync.records.kinds import RECORD_ID_PROPERTY, ObjectKind
from hubsync.records.state import HUBSPOT_ORIGIN, version_of

_KINDS: Mapping[str, ObjectKind] = {"CONTACT": "contact", "ACCOUNT": "account"}
_NEVER_AGAIN = {
    "merged_in_platform": "merged in the platform: only the survivor is synced",
    "deleted_in_crm": "deleted in HubSpot: no longer synced",
    "merged_in_crm": "merged away in HubSpot: no longer synced",
}


@dataclass(frozen=True, slots=True)
class PendingChange:
    """The platform-side changes of one record in a batch, coalesced."""

    kind: ObjectKind
    record_id: int
    change_types: frozenset[str]
    fields: Mapping[str, str | None]
    rules: Mapping[str, str]
    timestamps: Mapping[str, int]
    manual: bool
    cause_events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecordSnapshot:
    """The platform record as the push agent needs it."""

    kind: ObjectKind
    record_id: int
    hubspot_id: str | None
    crm_status: str
    merged_into_id: int | None
    erased: bool
    properties: Mapping[str, str | None]
    versions: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PushSettings:
    enabled: bool = True
    scope: str = "all"


@dataclass(frozen=True, slots=True)
class Planned:
    """One record to write: ``create`` (upsert on ``hubsync_record_id``) or ``update`` (by id)."""

    op: Literal["create", "update"]
    kind: ObjectKind
    record_id: int
    hubspot_id: str | None
    properties: Mapping[str, str | None]
    manual: bool
    cause_events: tuple[str, ...] = ()
    dropped: tuple[str, ...] = field(default=())

    def hubspot_input(self) -> dict[str, Any]:
        """The batch input HubSpot takes for this write."""
        if self.op == "create":
            return {
                "id": str(self.record_id),
                "idProperty": RECORD_ID_PROPERTY,
                "properties": dict(self.properties),
            }
        return {"id": self.hubspot_id, "properties": dict(self.properties)}


@dataclass(frozen=True, slots=True)
class Skipped:
    kind: ObjectKind
    record_id: int
    reason: str


def coalesce(values: Iterable[Mapping[str, Any]]) -> list[PendingChange]:
    """Decoded ``PlatformChangeEvent`` values (timestamps as int ms), in offset order, per record."""
    merged: dict[tuple[ObjectKind, int], dict[str, Any]] = {}
    for value in values:
        key = (_KINDS[value["object_type"]], int(value["record_id"]))
        entry = merged.setdefault(
            key, {"types": set(), "fields": {}, "rules": {}, "timestamps": {}, "manual": False, "causes": []}
        )
        entry["types"].add(value["change_type"])
        entry["fields"].update(value.get("changed_fields") or {})
        entry["rules"].update(value.get("field_rules") or {})
        entry["timestamps"].update({k: int(v) for k, v in (value.get("field_timestamps") or {}).items()})
        entry["manual"] = entry["manual"] or bool(value.get("manual"))
        entry["causes"].append(str(value.get("cause_event") or value["event_id"]))
    return [
        PendingChange(
            kind=kind,
            record_id=record_id,
            change_types=frozenset(e["types"]),
            fields=e["fields"],
            rules=e["rules"],
            timestamps=e["timestamps"],
            manual=e["manual"],
            cause_events=tuple(e["causes"]),
        )
        for (kind, record_id), e in merged.items()
    ]


def _hubspot_newer(record: RecordSnapshot, name: str, edited_at: int | None) -> bool:
    """HubSpot changed ``name`` after the platform's edit: the later change (HubSpot's) wins."""
    stored = record.versions.get(name)
    if stored is None or edited_at is None:
        return False
    at, origin = version_of(stored)
    return origin == HUBSPOT_ORIGIN and at > edited_at


def plan(
    change: PendingChange,
    record: RecordSnapshot | None,
    settings: PushSettings,
    mapped: Iterable[str],
) -> Planned | Skipped:
    """Decide what ``change`` sends to HubSpot (see the module docstring)."""
    if record is None:
        return Skipped(change.kind, change.record_id, "record not found")
    if record.erased:
        return Skipped(change.kind, change.record_id, "personal data erased")
    if record.merged_into_id is not None or record.crm_status in _NEVER_AGAIN:
        reason = _NEVER_AGAIN.get(record.crm_status, _NEVER_AGAIN["merged_in_platform"])
        return Skipped(change.kind, change.record_id, reason)
    if "DELETED" in change.change_types:
        return Skipped(change.kind, change.record_id, "deleted in the platform: not propagated")
    mapped_set = set(mapped)
    wanted = {
        name: value
        for name, value in change.fields.items()
        if name in mapped_set or change.rules.get(name) in ("manual", "autofill", "overwrite")
    }
    if record.hubspot_id is None:
        if not (change.manual or (settings.enabled and settings.scope == "all")):
            reason = "push disabled" if not settings.enabled else "push scope is manual"
            return Skipped(change.kind, change.record_id, f"net-new record not pushed: {reason}")
        # the record as it is now: a change planned late (redelivered after a rebalance, or behind a
        # later edit) must not send the values it was made with over newer ones
        current = {k: v for k, v in record.properties.items() if k in mapped_set and v not in (None, "")}
        extra = {k: record.properties.get(k, v) for k, v in wanted.items() if k not in mapped_set}
        properties = {**{k: v for k, v in extra.items() if v is not None}, **current}
        properties[RECORD_ID_PROPERTY] = str(record.record_id)
        return Planned(
            "create", change.kind, record.record_id, None, properties, change.manual, change.cause_events
        )
    if "PUSH_REQUESTED" in change.change_types:
        wanted = {**{k: v for k, v in record.properties.items() if k in mapped_set}, **wanted}
    dropped = tuple(sorted(n for n in wanted if _hubspot_newer(record, n, change.timestamps.get(n))))
    update: dict[str, str | None] = {
        n: ("" if v is None else v) for n, v in wanted.items() if n not in dropped
    }
    if not update:
        return Skipped(change.kind, change.record_id, "nothing to push")
    return Planned(
        "update",
        change.kind,
        record.record_id,
        record.hubspot_id,
        update,
        change.manual,
        change.cause_events,
        dropped,
    )


def plan_all(
    changes: Sequence[PendingChange],
    records: Mapping[tuple[ObjectKind, int], RecordSnapshot],
    settings: PushSettings,
    mapped: Mapping[ObjectKind, Iterable[str]],
) -> tuple[list[Planned], list[Skipped]]:
    planned: list[Planned] = []
    skipped: list[Skipped] = []
    for change in changes:
        outcome = plan(
            change, records.get((change.kind, change.record_id)), settings, mapped.get(change.kind, ())
        )
        if isinstance(outcome, Planned):
            planned.append(outcome)
        else:
            skipped.append(outcome)
    return planned, skipped
