"""User actions on platform records: merge, manual enrichment and manual push (SPEC section 1).

Each runs in one transaction it opens on the given connection, like :mod:`hubsync.platform.records`.

* **Merge in the platform**: the merged record points at the survivor (``merged_into_id``), gets
  ``crm_status = 'merged_in_platform'`` and is never pushed again; only the survivor keeps syncing.
  Values are not copied between the two. The ``MERGED`` outbox row is keyed by the merged-away
  record (``record_id`` = merged, ``merged_into_id`` = survivor), so it is ordered after that
  record's earlier changes and the push path drops them. Nothing is merged in HubSpot.
* **Manual enrichment** writes one field (a given value, or the matching prospect's) with rule
  ``manual`` and appends an ``ENRICHED`` row with ``manual = true``: it is pushed whatever the
  push settings and the field's mapping mode. The value is still converted and validated.
* **Manual push** appends ``PUSH_REQUESTED`` (``manual = true``) with every mapped field of each
  record: a net-new record is then created in HubSpot even when ``push.enabled`` is false.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from hubsync.mapping.store import load_prospects
from hubsync.mapping.values import PlatformValue
from hubsync.matching.duplicates import DuplicatePair, flag_duplicates
from hubsync.matching.record_keys import AccountKeys, ContactKeys
from hubsync.platform.errors import (
    InvalidFieldValue,
    InvalidMerge,
    NoEnrichmentValue,
    PlatformWriteError,
    RecordNotWritable,
)
from hubsync.platform.fields import check_field_name, convert_value, is_empty, record_keys
from hubsync.platform.records import WriteResult, now, outbox_event, reflag
from hubsync.platform.store import (
    CAUSE_SOURCE,
    ActivityRow,
    PlatformRecord,
    add_activities,
    check_writable,
    field_context,
    lock_record,
    lock_records,
    update_values,
)
from hubsync.records.kinds import RECORD_TABLES
from hubsync.records.state import platform_version, version_of
from hubsync.storage.outbox import OutboxEvent, append_outbox, epoch_ms

__all__ = ["enrich_record", "merge_records", "request_push"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_SYNCED = {
    "deleted_in_crm": "was deleted in HubSpot and is no longer synced",
    "merged_in_crm": "was merged away in HubSpot and is no longer synced",
}


def merge_records(conn: psycopg.Connection[Any], survivor_id: int, merged_id: int) -> WriteResult:
    """Merge ``merged_id`` into ``survivor_id`` (same object type) in the platform; the open
    potential-duplicate pairs between the two are resolved. Returns the merged record's result."""
    if survivor_id == merged_id:
        raise InvalidMerge("a record cannot be merged into itself")
    with conn.transaction():
        records = lock_records(conn, [survivor_id, merged_id])
        survivor, merged = records[survivor_id], records[merged_id]
        if survivor.kind != merged.kind:
            raise InvalidMerge(
                f"record {survivor_id} is a {survivor.kind} and record {merged_id} a {merged.kind}:"
                " only records of one type merge"
            )
        check_writable(survivor)
        check_writable(merged)
        table = RECORD_TABLES[merged.kind]
        # records merged into the merged one earlier now point at the survivor (no chains)
        conn.execute(
            f"UPDATE {table} SET merged_into_id = %s WHERE merged_into_id = %s", (survivor_id, merged_id)
        )
        conn.execute(
            f"UPDATE {table} SET merged_into_id = %s, crm_status = 'merged_in_platform', updated_at = now()"
            " WHERE id = %s",
            (survivor_id, merged_id),
        )
        resolved = conn.execute(
            "UPDATE hubsync.potential_duplicates SET resolved_at = now()"
            " WHERE object_type = %s AND record_a = %s AND record_b = %s AND resolved_at IS NULL"
            " RETURNING signal",
            (merged.kind, min(survivor_id, merged_id), max(survivor_id, merged_id)),
        ).fetchall()
        event = outbox_event(merged, "MERGED", now(), merged_into_id=survivor_id)
        [event_id] = append_outbox(conn, [event])
        cause = str(event_id)
        signals = sorted(str(s) for (s,) in resolved)
        add_activities(
            conn,
            [
                ActivityRow(
                    merged.kind,
                    merged.id,
                    "merged_in_platform",
                    rule="platform",
                    before=merged.crm_status,
                    after="merged_in_platform",
                    cause_event=cause,
                    detail={"role": "merged", "merged_into": survivor_id, "resolved_signals": signals},
                ),
                ActivityRow(
                    survivor.kind,
                    survivor.id,
                    "merged_in_platform",
                    rule="platform",
                    cause_event=cause,
                    detail={"role": "survivor", "merged_record": merged_id, "resolved_signals": signals},
                ),
            ],
        )
        # the merged record no longer counts as anyone's duplicate: its other open pairs are dropped
        flag_duplicates(
            conn, merged.kind, [survivor_id, merged_id], cause_source=CAUSE_SOURCE, cause_event=cause
        )
    return WriteResult(merged.id, merged.kind, {}, event_id)


def _prospect_value(conn: psycopg.Connection[Any], record: PlatformRecord, field: str) -> object:
    keys: ContactKeys | AccountKeys = record_keys(record.kind, record.properties)
    if isinstance(keys, ContactKeys):
        index = load_prospects(
            conn, emails=[keys.primary_email] if keys.primary_email else [], domain_roots=[]
        )
        match = index.person(keys.primary_email)
        what = f"prospect person with e-mail {keys.primary_email}" if keys.primary_email else None
    else:
        index = load_prospects(conn, emails=[], domain_roots=[keys.domain_root] if keys.domain_root else [])
        match = index.organization(keys.domain_root)
        what = f"prospect organization with domain {keys.domain_root}" if keys.domain_root else None
    if what is None:
        raise NoEnrichmentValue(
            f"record {record.id} has no {'e-mail' if record.kind == 'contact' else 'domain'} to match a"
            " prospect on; give --value"
        )
    if match is None:
        raise NoEnrichmentValue(f"no {what}; give --value")
    value = match.get(field)
    if is_empty(value):
        raise NoEnrichmentValue(f"the {what} has no value for {field!r}; give --value")
    return value


def enrich_record(
    conn: psycopg.Connection[Any], record_id: int, field: str, value: PlatformValue = None
) -> WriteResult:
    """Manually enrich ``field`` of a record with ``value``, or with the matching prospect's value
    (person by the contact's primary e-mail, organization by the account's root domain)."""
    check_field_name(field)
    if isinstance(value, str) and not value.strip():
        raise InvalidFieldValue(
            field, "an enrichment needs a value (leave the value out to use the prospect's)"
        )
    with conn.transaction():
        record = lock_record(conn, record_id)
        check_writable(record)
        source = "user" if value is not None else "prospect"
        raw = value if value is not None else _prospect_value(conn, record, field)
        ctx = field_context(conn, record.kind)
        wire = convert_value(field, _platform_value(field, raw), ctx.definitions.get(field))
        if wire is None:
            raise InvalidFieldValue(field, "an enrichment needs a value")
        at = now()
        before = record.properties.get(field)
        properties = {**record.properties, field: wire}
        versions = {
            **record.versions,
            field: platform_version(epoch_ms(at), "manual", record.versions.get(field), before),
        }
        keys_changed = update_values(conn, record, properties, versions)
        event = outbox_event(record, "ENRICHED", at, {field: wire}, rule="manual", manual=True)
        [event_id] = append_outbox(conn, [event])
        add_activities(
            conn,
            [
                ActivityRow(
                    record.kind,
                    record.id,
                    "enriched",
                    rule="manual",
                    field=field,
                    before=before,
                    after=wire,
                    cause_event=str(event_id),
                    detail={"value_source": source, "mapped": field in ctx.mapped},
                )
            ],
        )
        pairs: tuple[DuplicatePair, ...] = ()
        if keys_changed:
            old, new = record_keys(record.kind, record.properties), record_keys(record.kind, properties)
            pairs = reflag(conn, record.kind, record.id, old, new, str(event_id))
    changed = {} if before == wire else {field: (before, wire)}
    return WriteResult(record.id, record.kind, changed, event_id, pairs)


def _platform_value(field: str, value: object) -> PlatformValue:
    """A prospect value (decoded from jsonb) as a value conversion takes."""
    if isinstance(value, str | int | float | Decimal | bool | list):
        return value
    raise InvalidFieldValue(field, f"the prospect's value is a {type(value).__name__}, not a field value")


def _version_time(stored: object, fallback: datetime) -> datetime:
    if stored is None:
        return fallback
    return _EPOCH + timedelta(milliseconds=version_of(stored)[0])


def request_push(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> list[tuple[int, uuid.UUID]]:
    """Ask for a manual push of each record: one ``PUSH_REQUESTED`` row (``manual = true``) with all
    its mapped fields. Returns (record id, outbox id) in the order given (repeats once)."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        raise PlatformWriteError("no record ids to push")
    with conn.transaction():
        records = lock_records(conn, ids)
        for rid in ids:
            check_writable(records[rid])
            reason = _NOT_SYNCED.get(records[rid].crm_status)
            if reason is not None:
                raise RecordNotWritable(f"record {rid} {reason}")
        contexts = {kind: field_context(conn, kind) for kind in {r.kind for r in records.values()}}
        at = now()
        events: list[OutboxEvent] = []
        for rid in ids:
            record = records[rid]
            mapped = contexts[record.kind].mapped
            values = {k: v for k, v in record.properties.items() if k in mapped and v is not None}
            events.append(
                OutboxEvent(
                    object_type="CONTACT" if record.kind == "contact" else "ACCOUNT",
                    record_id=record.id,
                    change_type="PUSH_REQUESTED",
                    occurred_at=at,
                    hubspot_id=record.hubspot_id,
                    changed_fields=values,
                    field_rules=dict.fromkeys(values, "platform"),
                    # each value's own edit time (HubSpot's for a mirrored value): later change wins
                    field_timestamps={k: _version_time(record.versions.get(k), at) for k in values},
                    manual=True,
                )
            )
        outbox_ids = append_outbox(conn, events)
    return list(zip(ids, outbox_ids, strict=True))
