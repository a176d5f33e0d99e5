"""Reading and writing platform records for the platform-side API (sync psycopg, the caller's
transaction): locking a record by id, writing its values with derived columns and e-mail keys,
activity rows, and what conversion needs (the mapped fields and HubSpot's definitions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, cast

import orjson
import psycopg
from psycopg.types.json import Jsonb

from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.mapping.values import PropertyDefinition
from hubsync.matching.record_keys import DERIVED_COLUMNS, ContactKeys
from hubsync.platform.errors import RecordNotFound, RecordNotWritable
from hubsync.platform.fields import derived_columns, record_keys
from hubsync.records.kinds import RECORD_TABLES, ObjectKind

#: the ``cause_source`` of activity rows written by platform-side writes
CAUSE_SOURCE = "PLATFORM"

_SELECT = (
    "SELECT id, hubspot_id, creation_source, crm_status, merged_into_id, {erased}, properties,"
    " property_versions, deleted_at IS NOT NULL"
    " FROM {table} t WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)


@dataclass(frozen=True, slots=True)
class PlatformRecord:
    """A contact or account as the platform-side writes need it (locked ``FOR UPDATE``)."""

    kind: ObjectKind
    id: int
    hubspot_id: str | None
    creation_source: str
    crm_status: str
    merged_into_id: int | None
    erased: bool
    properties: Mapping[str, str | None]
    versions: Mapping[str, Any]
    deleted_in_platform: bool = False

    @property
    def outbox_type(self) -> str:
        return "CONTACT" if self.kind == "contact" else "ACCOUNT"


def lock_records(conn: psycopg.Connection[Any], record_ids: Iterable[int]) -> dict[int, PlatformRecord]:
    """Lock and load the records with these ids (contacts then accounts, each in id order);
    :class:`RecordNotFound` names the first id that is neither."""
    ids = sorted(set(record_ids))
    found: dict[int, PlatformRecord] = {}
    for kind in ("contact", "account"):
        wanted = [i for i in ids if i not in found]
        if not wanted:
            break
        erased = "erased_at IS NOT NULL" if kind == "contact" else "false"
        statement = _SELECT.format(erased=erased, kind=kind, table=RECORD_TABLES[kind])
        for rid, hid, source, status, merged, is_erased, props, versions, deleted in conn.execute(
            statement, (wanted,)
        ):
            found[rid] = PlatformRecord(
                kind, rid, hid, source, status, merged, is_erased, dict(props), dict(versions), deleted
            )
    for rid in ids:
        if rid not in found:
            raise RecordNotFound(rid)
    return found


def lock_record(conn: psycopg.Connection[Any], record_id: int) -> PlatformRecord:
    return lock_records(conn, [record_id])[record_id]


def check_writable(record: PlatformRecord) -> None:
    """Raise :class:`RecordNotWritable` for a record merged away, deleted in the platform or erased."""
    if record.merged_into_id is not None or record.crm_status == "merged_in_platform":
        raise RecordNotWritable(
            f"record {record.id} was merged into record {record.merged_into_id}: change the survivor instead"
        )
    if record.deleted_in_platform:
        raise RecordNotWritable(f"record {record.id} was deleted in the platform")
    if record.erased:
        raise RecordNotWritable(f"record {record.id}'s personal data was erased (privacy deletion)")


@dataclass(frozen=True, slots=True)
class FieldContext:
    """The mapped fields of an object type and HubSpot's property definitions for it."""

    mapped: frozenset[str]
    definitions: Mapping[str, PropertyDefinition] = dc_field(default_factory=dict)


def field_context(conn: psycopg.Connection[Any], kind: ObjectKind) -> FieldContext:
    mapped = frozenset(m.hubspot_property for m in load_mappings(conn).for_object(kind))
    return FieldContext(mapped, effective_definitions(conn, kind))


def insert_record(
    conn: psycopg.Connection[Any],
    kind: ObjectKind,
    source: str,
    properties: Mapping[str, str | None],
    versions: Mapping[str, Any],
) -> int:
    """Insert a net-new record (``not_linked``) with its derived columns and e-mail keys."""
    keys = record_keys(kind, properties)
    derived = derived_columns(kind, properties, keys)
    columns = ["creation_source", "crm_status", "properties", "property_versions", *derived]
    row = conn.execute(
        f"INSERT INTO {RECORD_TABLES[kind]} ({', '.join(columns)})"
        f" VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id",
        [source, "not_linked", Jsonb(dict(properties)), Jsonb(dict(versions)), *derived.values()],
    ).fetchone()
    assert row is not None
    record_id = int(row[0])
    if isinstance(keys, ContactKeys):
        replace_emails(conn, record_id, keys)
    return record_id


def update_values(
    conn: psycopg.Connection[Any],
    record: PlatformRecord,
    properties: Mapping[str, str | None],
    versions: Mapping[str, Any],
) -> bool:
    """Write a record's properties, versions and derived columns; replace its e-mail keys when
    they changed. Returns whether its matching keys changed."""
    old_keys = record_keys(record.kind, record.properties)
    keys = record_keys(record.kind, properties)
    derived = derived_columns(record.kind, properties, keys)
    assignments = ", ".join(
        f"{c} = %s" for c in ("properties", "property_versions", *DERIVED_COLUMNS[record.kind])
    )
    conn.execute(
        f"UPDATE {RECORD_TABLES[record.kind]} SET {assignments}, updated_at = now() WHERE id = %s",
        [Jsonb(dict(properties)), Jsonb(dict(versions)), *derived.values(), record.id],
    )
    if keys == old_keys:
        return False
    if isinstance(keys, ContactKeys):
        replace_emails(conn, record.id, keys)
    return True


def replace_emails(conn: psycopg.Connection[Any], contact_id: int, keys: ContactKeys) -> None:
    conn.execute("DELETE FROM hubsync.contact_emails WHERE contact_id = %s", (contact_id,))
    emails = sorted(keys.emails)
    if emails:
        conn.execute(
            "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary)"
            " SELECT %s, e, e = %s FROM unnest(%s::text[]) AS e",
            (contact_id, keys.primary_email, emails),
        )


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One ``hubsync.activity_log`` row of a platform-side write."""

    kind: ObjectKind
    record_id: int
    action: str
    rule: str | None = None
    field: str | None = None
    before: Any = None
    after: Any = None
    cause_event: str | None = None
    detail: Mapping[str, Any] = dc_field(default_factory=dict)


def add_activities(conn: psycopg.Connection[Any], rows: Sequence[ActivityRow]) -> None:
    if not rows:
        return

    def js(value: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO hubsync.activity_log (object_type, record_id, action, field, before, after, rule,"
            " cause_source, cause_event, detail) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s,"
            " %s::jsonb)",
            [
                (
                    r.kind,
                    r.record_id,
                    r.action,
                    r.field,
                    js(r.before),
                    js(r.after),
                    r.rule,
                    CAUSE_SOURCE,
                    r.cause_event,
                    orjson.dumps(dict(r.detail)).decode(),
                )
                for r in rows
            ],
        )


def kind_of(value: str) -> ObjectKind:
    if value not in RECORD_TABLES:
        raise ValueError(f"object type must be contact or account, got {value!r}")
    return cast(ObjectKind, value)
