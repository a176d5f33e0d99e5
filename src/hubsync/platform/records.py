"""Platform-side writes of contacts and accounts, standing in for the platform application
(SPEC section 3, "Platform-side writes").

Every function runs in **one transaction** it opens on the given connection (``conn.transaction()``:
a transaction of its own, or a savepoint when the caller already opened one) and writes, together,
the record, its e-mail keys, its activity rows, the potential duplicates its keys now match
(:func:`hubsync.matching.duplicates.flag_duplicates`, which needs that very transaction, under READ
COMMITTED), the prospect marks and the **outbox** row the push path sends to HubSpot. Bad input
raises a :class:`~hubsync.platform.errors.PlatformWriteError` before anything is written.

The outbox carries **mapped fields only** (``hubsync.field_mappings`` of the object type, any mode),
converted to HubSpot's wire strings by its property definitions, with rule ``platform`` and the edit
time as each field's timestamp (later change wins). Unmapped fields are stored and never synced.

A platform-side **delete** keeps the record, with ``deleted_at`` set (and a ``deleted_in_platform``
activity row): it
takes no more changes, its open duplicate pairs are resolved, and the ``DELETED`` outbox row tells
the push path, which does not propagate it to HubSpot (the product deletes in both places by hand,
and the pull keeps mirroring a record that still exists in HubSpot).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any

import psycopg

from hubsync.matching.duplicates import DuplicatePair, flag_duplicates
from hubsync.matching.prospects import mark_prospects
from hubsync.matching.record_keys import AccountKeys, ContactKeys
from hubsync.platform.errors import InvalidField
from hubsync.platform.fields import changes, convert_fields, prospect_keys, record_keys
from hubsync.platform.store import (
    CAUSE_SOURCE,
    ActivityRow,
    PlatformRecord,
    add_activities,
    check_writable,
    field_context,
    insert_record,
    kind_of,
    lock_record,
    update_values,
)
from hubsync.records.kinds import RECORD_TABLES
from hubsync.records.state import platform_version
from hubsync.storage.outbox import ChangeType, FieldRule, OutboxEvent, append_outbox, epoch_ms

__all__ = ["SOURCES", "WriteResult", "create_record", "delete_record", "update_record"]

#: the creation sources a platform-side create may name
SOURCES = frozenset({"platform", "import"})


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a platform-side write did: the fields it changed (name -> (before, after)), the outbox
    row it appended (``None``: nothing to push) and the potential duplicates it flagged."""

    record_id: int
    object_type: str
    changed: Mapping[str, tuple[str | None, str | None]] = dc_field(default_factory=dict)
    outbox_id: uuid.UUID | None = None
    duplicates: tuple[DuplicatePair, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "object_type": self.object_type,
            "changed": {k: {"before": b, "after": a} for k, (b, a) in self.changed.items()},
            "outbox_id": None if self.outbox_id is None else str(self.outbox_id),
            "duplicates_flagged": [
                {"record_a": p.record_a, "record_b": p.record_b, "signal": p.signal} for p in self.duplicates
            ],
        }


def now() -> datetime:
    """The edit time of a platform-side write (millisecond precision, as the outbox keeps it)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def outbox_event(
    record: PlatformRecord | tuple[str, int],
    change_type: ChangeType,
    at: datetime,
    values: Mapping[str, str | None] | None = None,
    *,
    rule: FieldRule = "platform",
    manual: bool = False,
    hubspot_id: str | None = None,
    merged_into_id: int | None = None,
) -> OutboxEvent:
    """An outbox event of one record whose ``values`` were all edited at ``at`` by ``rule``."""
    kind, record_id = (record.kind, record.id) if isinstance(record, PlatformRecord) else record
    values = dict(values or {})
    return OutboxEvent(
        object_type="CONTACT" if kind == "contact" else "ACCOUNT",
        record_id=record_id,
        change_type=change_type,
        occurred_at=at,
        hubspot_id=record.hubspot_id if isinstance(record, PlatformRecord) else hubspot_id,
        changed_fields=values,
        field_rules=dict.fromkeys(values, rule),
        field_timestamps=dict.fromkeys(values, at),
        manual=manual,
        merged_into_id=merged_into_id,
    )


def reflag(
    conn: psycopg.Connection[Any],
    kind: str,
    record_id: int,
    old: ContactKeys | AccountKeys | None,
    new: ContactKeys | AccountKeys,
    cause_event: str | None,
) -> tuple[DuplicatePair, ...]:
    """After a record's matching keys changed: flag its potential duplicates and re-mark the
    prospects of its old and new keys (same transaction)."""
    k = kind_of(kind)
    pairs = flag_duplicates(conn, k, [record_id], cause_source=CAUSE_SOURCE, cause_event=cause_event)
    emails, domains = prospect_keys(k, new)
    if old is not None:
        old_emails, old_domains = prospect_keys(k, old)
        emails |= old_emails
        domains |= old_domains
    mark_prospects(conn, emails=emails, domain_roots=domains)
    return tuple(pairs)


def create_record(
    conn: psycopg.Connection[Any],
    kind: str,
    fields: Mapping[str, str | None],
    *,
    source: str = "platform",
    manual: bool = False,
) -> int:
    """Create a net-new contact or account from HubSpot property values; returns its record id.

    ``source`` is its creation source (``platform`` or ``import``); ``manual`` marks the ``CREATED``
    outbox row as a user's explicit push (it then goes to HubSpot whatever the push settings).
    """
    object_type = kind_of(kind)
    if source not in SOURCES:
        raise InvalidField(f"creation source must be platform or import, got {source!r}")
    if not fields:
        raise InvalidField("a record needs at least one field value")
    with conn.transaction():
        ctx = field_context(conn, object_type)
        values = {
            k: v for k, v in convert_fields(fields, ctx.mapped, ctx.definitions).items() if v is not None
        }
        if not values:
            raise InvalidField("a record needs at least one non-empty field value")
        at = now()
        ms = epoch_ms(at)
        versions = {name: platform_version(ms, "platform", None) for name in values}
        record_id = insert_record(conn, object_type, source, values, versions)
        mapped = {k: v for k, v in values.items() if k in ctx.mapped}
        [event_id] = append_outbox(
            conn, [outbox_event((object_type, record_id), "CREATED", at, mapped, manual=manual)]
        )
        add_activities(
            conn,
            [
                ActivityRow(
                    object_type,
                    record_id,
                    "created_in_platform",
                    rule="platform",
                    after=values,
                    cause_event=str(event_id),
                    detail={
                        "creation_source": source,
                        "manual": manual,
                        "unmapped": sorted(set(values) - ctx.mapped),
                    },
                )
            ],
        )
        reflag(conn, object_type, record_id, None, record_keys(object_type, values), str(event_id))
    return record_id


def update_record(
    conn: psycopg.Connection[Any], record_id: int, fields: Mapping[str, str | None]
) -> WriteResult:
    """Change fields of a record (an empty value clears one). Fields whose value does not change
    are left alone; the ``UPDATED`` outbox row holds the changed mapped fields (none: no row)."""
    if not fields:
        raise InvalidField("nothing to update: give at least one field")
    with conn.transaction():
        record = lock_record(conn, record_id)
        check_writable(record)
        ctx = field_context(conn, record.kind)
        changed = changes(record.properties, convert_fields(fields, ctx.mapped, ctx.definitions))
        if not changed:
            return WriteResult(record.id, record.kind)
        at = now()
        ms = epoch_ms(at)
        properties = dict(record.properties)
        versions = dict(record.versions)
        for name, (before, after) in changed.items():
            properties[name] = after
            versions[name] = platform_version(ms, "platform", record.versions.get(name), before)
        keys_changed = update_values(conn, record, properties, versions)
        mapped = {k: after for k, (_b, after) in changed.items() if k in ctx.mapped}
        event_id = None
        if mapped:
            [event_id] = append_outbox(conn, [outbox_event(record, "UPDATED", at, mapped)])
        cause = None if event_id is None else str(event_id)
        add_activities(
            conn,
            [
                ActivityRow(
                    record.kind,
                    record.id,
                    "updated",
                    rule="platform",
                    field=name,
                    before=before,
                    after=after,
                    cause_event=cause,
                    detail={"mapped": name in ctx.mapped},
                )
                for name, (before, after) in changed.items()
            ],
        )
        pairs: tuple[DuplicatePair, ...] = ()
        if keys_changed:
            old, new = record_keys(record.kind, record.properties), record_keys(record.kind, properties)
            pairs = reflag(conn, record.kind, record.id, old, new, cause)
    return WriteResult(record.id, record.kind, changed, event_id, pairs)


def delete_record(conn: psycopg.Connection[Any], record_id: int) -> WriteResult:
    """Delete a record in the platform: it is kept, ``deleted_at`` set, with a ``deleted_in_platform``
    activity row;
    takes no more changes, and its open potential-duplicate pairs are resolved. The ``DELETED``
    outbox row is not propagated to HubSpot by the push path (see the module docstring)."""
    with conn.transaction():
        record = lock_record(conn, record_id)
        check_writable(record)
        resolved = conn.execute(
            "UPDATE hubsync.potential_duplicates SET resolved_at = now()"
            " WHERE object_type = %(t)s AND (record_a = %(id)s OR record_b = %(id)s) AND resolved_at IS NULL"
            " RETURNING CASE WHEN record_a = %(id)s THEN record_b ELSE record_a END, signal",
            {"t": record.kind, "id": record.id},
        ).fetchall()
        conn.execute(
            f"UPDATE {RECORD_TABLES[record.kind]} SET deleted_at = now(), updated_at = now() WHERE id = %s",
            (record.id,),
        )
        [event_id] = append_outbox(conn, [outbox_event(record, "DELETED", now())])
        add_activities(
            conn,
            [
                ActivityRow(
                    record.kind,
                    record.id,
                    "deleted_in_platform",
                    rule="platform",
                    cause_event=str(event_id),
                    detail={
                        "hubspot_id": record.hubspot_id,
                        "resolved_duplicates": sorted([int(o), str(s)] for o, s in resolved),
                    },
                )
            ],
        )
    return WriteResult(record.id, record.kind, {}, event_id)
