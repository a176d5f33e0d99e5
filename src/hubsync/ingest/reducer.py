"""The ingest reducer: one HubSpot change applied to one mirrored record (pure, no I/O).

Every decision is made so that any order of the same events gives the same record, which is
what makes at-least-once delivery, replays and shuffled redeliveries safe:

* **Properties** carry a version each (:attr:`RecordState.versions`): HubSpot's change time of
  that property (a webhook's ``occurredAt``, ``propertiesWithHistory``, or the record's
  ``updatedAt``). A change older than the stored version is ignored; at the same time the larger
  value wins (``None`` smallest), so ties resolve the same way whatever arrives first. Values
  written by the platform (autofill, overwrite, manual edits) are stored as
  ``{"at": ms, "rule": ...}``; HubSpot's value replaces them only when it is later, and the
  losing value is logged as ``conflict_lost`` (SPEC: later change wins, the loser is kept).
  Until HubSpot confirms the platform's latest write, a value the platform replaced is not a
  change when a snapshot still holds it or an app's write (a push planned before that latest
  write) sets it again (:func:`~hubsync.records.state.pending_values`).
* **CRM status** (deleted / restored / merged) is ordered by :attr:`RecordState.crm_status_at`;
  at the same time a deletion beats a restore. Merged in HubSpot and merged in the platform are
  terminal whatever the times (a merged-away id never comes back; a deletion stored before the
  merge arrived gives way to it): the merged-away HubSpot id is not synced again, which is the
  push path's business (nothing is pushed to it) and the mapping rules' (no autofill/overwrite).
* **Property changes and associations apply by version whatever the status** of a deleted
  record: HubSpot sends none for it, so any that arrive are older deliveries (or replays), and
  applying them by version is what keeps the result order-independent (ignoring a change that
  arrived after a deletion but not one delivered before it would make the outcome depend on
  order). A merged-away record is different: the SPEC has its id no longer synced, so its changes
  (and associations) newer than the merge are ignored. The one order this cannot make converge
  is a change newer than the merge arriving *before* the merge, which needs HubSpot to change a
  record after merging it away: it does not (a merged-away id reads as the primary).
* **Privacy deletion** erases the personal data for good: every later event for the id is
  ignored, and an id first seen in a privacy deletion is kept as an erased placeholder so an
  older event arriving afterwards cannot bring the data back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from hubsync.ingest.events import NO_VALUES, ChangeEvent
from hubsync.records.state import (
    DELETED,
    HUBSPOT_ORIGIN,
    MERGED_IN_CRM,
    MERGED_IN_PLATFORM,
    NOT_LINKED,
    SYNCED,
    RecordState,
    pending_values,
    replaced_at,
    version_of,
)

_TERMINAL = frozenset({MERGED_IN_CRM, MERGED_IN_PLATFORM})
#: at the same status time, the higher one wins (a deletion beats a restore)
_STATUS_RANK = {NOT_LINKED: 0, SYNCED: 1, DELETED: 2, MERGED_IN_CRM: 3, MERGED_IN_PLATFORM: 3}


class Activity(NamedTuple):
    """One activity-log row for the record ``hubspot_id`` (``record_id`` is resolved on write).
    A named tuple, as :class:`~hubsync.ingest.events.ChangeEvent` is: one or more per event."""

    hubspot_id: str
    action: str
    cause_source: str | None
    cause_event: str | None
    field: str | None = None
    before: Any = None
    after: Any = None
    rule: str | None = None
    detail: Mapping[str, Any] = NO_VALUES


class Applied(NamedTuple):
    """What one event did: the activities, the properties it changed (name -> (before, after)),
    whether the record is new, and whether autofill/overwrite should look at it."""

    activities: list[Activity]
    changed: dict[str, tuple[str | None, str | None]]
    created: bool
    mapping_eligible: bool
    #: the record no longer syncs (merged away before this change): nothing of it applies
    ignored: bool = False


#: HubSpot's ``changeSource`` of a write through the API (an app's, hubsync's pushes among them)
APP_WRITES = frozenset({"INTEGRATION", "API"})


def _tie_key(value: str | None) -> tuple[int, str]:
    return (0, "") if value is None else (1, value)


def creation_source_of(event: ChangeEvent) -> str:
    return "manual_pull" if event.source == "MANUAL_PULL" else "hubspot"


def placeholder(hubspot_id: str, event: ChangeEvent, reason: str) -> tuple[RecordState, Activity]:
    """A record known only by id (an association, a merge or a deletion named it first)."""
    state = RecordState(hubspot_id=hubspot_id, creation_source=creation_source_of(event), dirty=True)
    activity = Activity(
        hubspot_id,
        "created_from_hubspot",
        event.source,
        event.event_id,
        rule="mirror",
        detail={"placeholder": True, "reason": reason},
    )
    return state, activity


def set_status(state: RecordState, status: str, at: int, event: ChangeEvent, action: str) -> list[Activity]:
    """Move ``state`` to ``status`` as of ``at`` unless a later (or stronger) status is stored."""
    if state.erased or state.crm_status in _TERMINAL:
        return []
    current_at = state.crm_status_at
    if (
        status not in _TERMINAL
        and current_at is not None
        and (at < current_at or (at == current_at and _STATUS_RANK[status] <= _STATUS_RANK[state.crm_status]))
    ):
        return []
    state.crm_status_at = at if current_at is None else max(at, current_at)
    state.dirty = True
    if state.crm_status == status:
        return []
    before, state.crm_status = state.crm_status, status
    return [
        Activity(
            state.hubspot_id,
            action,
            event.source,
            event.event_id,
            before=before,
            after=status,
            detail={"at_ms": at},
        )
    ]


def merge_properties(
    state: RecordState, event: ChangeEvent, activities: list[Activity]
) -> dict[str, tuple[str | None, str | None]]:
    """Apply the event's property values that are newer than the stored ones.

    The hot path of ingest: a property HubSpot owns (its stored version a plain int, or none) is
    decided inline; one the platform wrote goes through :func:`_platform_keeps`."""
    changed: dict[str, tuple[str | None, str | None]] = {}
    versions = state.versions
    properties = state.properties
    stamps = event.property_timestamps
    default_at = event.version
    if not versions and not properties:  # a new record (or a placeholder): every value is taken
        for name, raw in event.properties.items():
            value = None if raw == "" else raw
            versions[name] = stamps.get(name, default_at)
            properties[name] = value
            changed[name] = (None, value)
        if changed:
            state.dirty = True
        return changed
    written = False
    for name, raw in event.properties.items():
        value = None if raw == "" else raw
        at = stamps.get(name, default_at)
        stored = versions.get(name)
        current = properties.get(name)
        if stored is not None:
            if type(stored) is int:  # HubSpot's own: the later change wins, a tie the larger value
                # (an unchanged value at the stored time, a snapshot's usual case, ties without keys)
                if at < stored or (
                    at == stored and (value == current or _tie_key(value) <= _tie_key(current))
                ):
                    continue
            elif _platform_keeps(state, event, name, value, current, at, stored, activities):
                continue
        versions[name] = at
        written = True
        if current == value and name in properties:
            continue
        properties[name] = value
        changed[name] = (current, value)
    if written:
        state.dirty = True
    return changed


def _platform_keeps(
    state: RecordState,
    event: ChangeEvent,
    name: str,
    value: str | None,
    current: str | None,
    at: int,
    stored: Any,
    activities: list[Activity],
) -> bool:
    """Whether the stored value (versioned ``stored``, maybe the platform's) stays against HubSpot's
    ``value`` changed ``at``; logs the conflict's loser either way."""
    stored_at, origin = version_of(stored)
    if at < stored_at or (at == stored_at and _tie_key(value) <= _tie_key(current)):
        if origin != HUBSPOT_ORIGIN and value != current and at < stored_at and at > replaced_at(stored):
            activities.append(_conflict_lost(state, event, name, value, "mirror", origin, stored_at, at))
        return True
    if (
        origin != HUBSPOT_ORIGIN
        and value != current
        and (name not in event.property_timestamps or event.change_source in APP_WRITES)
        and value in pending_values(stored)
    ):
        # a snapshot (its version is the record's updatedAt, not this property's change
        # time) still holding a value the platform replaced: the platform's write has not
        # reached HubSpot yet, and the record changed in another property. Or an app's
        # write of such a value, later than the platform's: a push planned before the
        # platform's latest write and sent after it (a 5xx retried), whose own push follows
        return True
    if origin != HUBSPOT_ORIGIN and value != current:
        rule = origin if origin in ("autofill", "overwrite", "manual", "platform") else None
        activities.append(_conflict_lost(state, event, name, current, rule, HUBSPOT_ORIGIN, at, stored_at))
    return False


def _conflict_lost(
    state: RecordState,
    event: ChangeEvent,
    name: str,
    loser: str | None,
    rule: str | None,
    winner: str,
    winner_at: int,
    loser_at: int,
) -> Activity:
    """The ``conflict_lost`` row of property ``name``: the ``loser`` value, and who won when."""
    return Activity(
        state.hubspot_id,
        "conflict_lost",
        event.source,
        event.event_id,
        field=name,
        after=loser,
        rule=rule,
        detail={"winner": winner, "winner_at_ms": winner_at, "loser_at_ms": loser_at},
    )


def _erase(state: RecordState, event: ChangeEvent) -> list[Activity]:
    state.properties = {}
    state.versions = {}
    state.erased = True
    state.erased_now = True
    state.dirty = True
    state.crm_status = DELETED
    state.crm_status_at = max(state.crm_status_at or event.version, event.version)
    return [
        Activity(
            state.hubspot_id,
            "privacy_deleted",
            event.source,
            event.event_id,
            detail={"at_ms": event.version, "personal_data": "erased"},
        )
    ]


def apply_event(state: RecordState | None, event: ChangeEvent) -> tuple[RecordState, Applied]:
    """Apply ``event`` to the record of ``event.object_id`` (``state`` None: not mirrored yet).

    Merges and association changes touch other records too; :mod:`hubsync.ingest.apply` handles
    those parts (:func:`apply_merged_away`). Returns the (possibly new) state and what changed.
    """
    activities: list[Activity] = []
    created = mirrored = False
    if state is None:
        created = True
        if event.change_type in ("SNAPSHOT", "CREATION", "PROPERTY_CHANGE"):
            state = RecordState(
                hubspot_id=event.object_id, creation_source=creation_source_of(event), dirty=True
            )
            mirrored = True  # its created_from_hubspot row holds the values merged below
        else:
            state, first = placeholder(event.object_id, event, event.change_type.lower())
            activities.append(first)
    if state.erased:
        return state, Applied([], {}, False, False, ignored=True)
    if event.change_type == "PRIVACY_DELETION":
        return state, Applied(activities + _erase(state, event), {}, created, False)
    if state.crm_status == MERGED_IN_CRM and event.version > (state.crm_status_at or 0):
        return state, Applied(activities, {}, created, False, ignored=True)

    changed = merge_properties(state, event, activities)
    if mirrored:
        # a new record took every value of the event ("" as None): a copy of them, as mirrored
        # (autofill may change the record's own afterwards)
        # positional, as the per-field rows below: this runs once or more per event
        created_row = Activity(
            event.object_id,
            "created_from_hubspot",
            event.source,
            event.event_id,
            None,
            None,
            dict(state.properties),
            "mirror",
            {"change_type": event.change_type},
        )
        activities.insert(0, created_row)
    if not created:
        activities.extend(
            Activity(state.hubspot_id, "updated", event.source, event.event_id, name, before, after, "mirror")
            for name, (before, after) in sorted(changed.items())
        )
    if event.created_at is not None and state.hubspot_created_at is None:
        state.hubspot_created_at = event.created_at
        state.dirty = True
    if state.hubspot_updated_at is None or event.version > state.hubspot_updated_at:
        state.hubspot_updated_at = event.version
        state.dirty = True
    if state.crm_status == NOT_LINKED:
        state.crm_status = SYNCED
        state.dirty = True
    if event.archived or event.change_type == "DELETION":
        activities.extend(set_status(state, DELETED, event.version, event, "deleted_in_crm"))
    elif event.change_type == "RESTORE":
        activities.extend(set_status(state, SYNCED, event.version, event, "restored_in_crm"))
    eligible = bool(changed or created) and state.crm_status == SYNCED and not event.archived
    return state, Applied(activities, changed, created, eligible)


def apply_merged_away(
    state: RecordState | None, hubspot_id: str, survivor: str, event: ChangeEvent
) -> tuple[RecordState, list[Activity]]:
    """Mark ``hubspot_id`` as merged away into ``survivor`` in HubSpot (the platform does not merge)."""
    activities: list[Activity] = []
    if state is None:
        state, first = placeholder(hubspot_id, event, "merge")
        activities.append(first)
    if state.erased or state.crm_status == MERGED_IN_CRM:
        return state, activities
    moved = set_status(state, MERGED_IN_CRM, event.version, event, "merged_in_crm")
    if state.crm_status == MERGED_IN_CRM:
        state.merged_into_hubspot_id = survivor
        activities.extend(
            Activity(
                a.hubspot_id,
                a.action,
                a.cause_source,
                a.cause_event,
                before=a.before,
                after=survivor,
                detail={**a.detail, "survivor_hubspot_id": survivor},
            )
            for a in moved
        )
    return state, activities
