"""Load mirrored records into :class:`~hubsync.ingest.reducer.RecordState` and write them back.

Writes go through a per-session staging table (COPY, then one INSERT for new records and one
UPDATE for existing ones), which is what keeps a batch of thousands of records to a handful of
round trips. The columns the platform queries by (email, names, domain and the matching keys)
are derived from the HubSpot properties here, in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from hubsync.matching.record_keys import DERIVED_COLUMNS, ContactKeys, derived_values
from hubsync.records.kinds import RECORD_TABLES, ObjectKind
from hubsync.records.state import RecordState
from hubsync.storage.arrays import int_array, text_array
from hubsync.storage.locks import advisory_lock_id, take_locks
from hubsync.storage.pool import json_loads
from hubsync.storage.portal_scope import current_portal

_COMMON = (
    "hubspot_id",
    "creation_source",
    "crm_status",
    "crm_status_at",
    "properties",
    "property_versions",
    "hubspot_updated_at",
    "hubspot_created_at",
    "crm_merged_into_hubspot_id",
)
_TIMES = frozenset({"crm_status_at", "hubspot_updated_at", "hubspot_created_at"})


@dataclass(frozen=True, slots=True)
class LoadedRecord:
    state: RecordState


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A record to write, with its matching keys computed from its properties."""

    kind: ObjectKind
    state: RecordState
    keys: Any  # ContactKeys | AccountKeys


#: a batch locks at most this many records one by one (every advisory lock takes a slot of the
#: server's shared lock table, 6,400 by default); see :func:`lock_records` for the rest. The same
#: as ``HUBSYNC_INGEST_MAX_LOCKS``' default, so code built without settings behaves like a worker
MAX_RECORD_LOCKS = 128


def record_lock_id(kind: ObjectKind, hubspot_id: str, portal: int = 0) -> int:
    """The advisory lock of the mirrored record of HubSpot id ``hubspot_id`` in ``portal``."""
    return advisory_lock_id("hubsync.record", str(portal), kind, hubspot_id)


def lock_records(
    conn: psycopg.Connection[Any],
    hubspot_ids: Mapping[ObjectKind, Collection[str]],
    *,
    max_locks: int = MAX_RECORD_LOCKS,
    portal: int | None = None,
) -> None:
    """Serialize the writers of the same mirrored records until this transaction ends.

    Two batches may name one record at once (a contact's batch creating the placeholder of its
    company while the companies' batch inserts that company): the second waits here for the first
    to commit, then loads the committed row and applies its events on top, where it would
    otherwise insert the same HubSpot id again and fail on the unique constraint. Call before
    :func:`load_records`. The locks are the current portal's.

    At most ``max_locks`` records are locked one by one: the kinds naming the fewest records first,
    whole kinds only. The records of a kind left over (a big batch's own contacts, say) take no
    advisory lock, and two batches naming one of them stay exact all the same, only slower:

    * an existing record is locked by :func:`load_records` (``FOR UPDATE``): the second batch
      waits for the first to commit and loads the committed row;
    * a new one is inserted by both: the second insert waits for the first to commit and then
      fails on the unique constraint (or, several such records inserted in different orders, on a
      deadlock PostgreSQL detects), retriable errors, so the second batch is applied again from the
      start, loading the committed row.

    Both cost a batch's work and need two batches in flight naming one record. Kafka keys a change
    event by its record, so within a topic a record's events are one consumer's at a time; the
    realtime and backfill topics may both carry a new record, and a contacts batch names the
    companies it links to, whose own events are in the companies' topics (docs/ingest.md#delivery).
    """
    wanted = sorted(((kind, ids) for kind, ids in hubspot_ids.items() if ids), key=lambda kv: len(kv[1]))
    if not wanted:
        return
    if portal is None:
        portal = current_portal(conn)
    singles: list[int] = []
    for kind, ids in wanted:
        if len(singles) + len(ids) > max_locks:
            break
        singles.extend(record_lock_id(kind, h, portal) for h in ids)
    take_locks(conn, single=singles)


def _ms(column: str) -> str:
    return f"(extract(epoch FROM {column}) * 1000)::bigint"


def load_records(
    conn: psycopg.Connection[Any],
    kind: ObjectKind,
    *,
    hubspot_ids: Sequence[str] = (),
    record_ids: Sequence[int] = (),
    unlinked_only: bool = False,
) -> list[LoadedRecord]:
    """Lock (``FOR UPDATE``, in id order) and load records by HubSpot id or platform id."""
    if not hubspot_ids and not record_ids:
        return []
    erased = "erased_at IS NOT NULL" if kind == "contact" else "false"
    where = "hubspot_id = ANY(%s::text[])" if hubspot_ids else "id = ANY(%s::bigint[])"
    if unlinked_only:
        where += " AND hubspot_id IS NULL AND merged_into_id IS NULL"
    # the two jsonb columns as text, parsed here with orjson: through psycopg's jsonb loader each value
    # took two Python calls more (~0.5 µs); and fetchall, not iterating the cursor (a Python call a row).
    # 6.4-6.9 -> 4.4-4.8 µs of CPU a record loaded (docs/performance.md, session 21)
    rows = conn.execute(
        f"SELECT id, hubspot_id, creation_source, crm_status, {_ms('crm_status_at')}, properties::text,"
        f" property_versions::text, {_ms('hubspot_updated_at')}, {_ms('hubspot_created_at')},"
        f" crm_merged_into_hubspot_id, {erased}"
        f" FROM {RECORD_TABLES[kind]} WHERE {where} ORDER BY id FOR UPDATE",
        (text_array(hubspot_ids) if hubspot_ids else int_array(record_ids),),
    ).fetchall()
    out = []
    loads = orjson.loads
    for rid, hid, source, status, status_at, props, versions, updated, created, merged, erased_ in rows:
        try:  # the two columns' text, parsed
            props, versions = loads(props), loads(versions)
        except orjson.JSONDecodeError:  # a number past a double's range, which orjson refuses
            props, versions = json_loads(props), json_loads(versions)
        out.append(
            LoadedRecord(
                RecordState(
                    hubspot_id=hid or "",
                    record_id=rid,
                    creation_source=source,
                    crm_status=status,
                    crm_status_at=status_at,
                    properties=props if type(props) is dict else dict(props),
                    versions=versions if type(versions) is dict else dict(versions),
                    hubspot_updated_at=updated,
                    hubspot_created_at=created,
                    merged_into_hubspot_id=merged,
                    erased=erased_,
                )
            )
        )
    return out


def _stage_table(kind: ObjectKind) -> str:
    return f"hubsync_stage_{kind}"


def _ensure_stage(conn: psycopg.Connection[Any], kind: ObjectKind) -> None:
    derived = ", ".join(f"{c} text" for c in DERIVED_COLUMNS[kind])
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_stage_table(kind)} ("
        " id bigint, hubspot_id text, creation_source text, crm_status text, crm_status_at bigint,"
        " properties jsonb, property_versions jsonb, hubspot_updated_at bigint, hubspot_created_at bigint,"
        f" crm_merged_into_hubspot_id text, erased boolean, {derived}) ON COMMIT DELETE ROWS"
    )


def _select_expr(column: str) -> str:
    # float8, not numeric (``/ 1000.0``): for any |ms| up to 2^53 (year ~287,000) both give the double
    # nearest the exact quotient, which to_timestamp takes (tests/ingest/test_record_io.py), and numeric
    # arithmetic cost ~0.26 µs more per value, three per record written
    return f"to_timestamp(s.{column}::float8 / 1000)" if column in _TIMES else f"s.{column}"


def write_records(
    conn: psycopg.Connection[Any],
    rows: Sequence[RecordRow],
    *,
    old_keys: Mapping[tuple[ObjectKind, str], Any],
    portal: int | None = None,
) -> dict[tuple[ObjectKind, str], int]:
    """Insert or update ``rows``; return the platform id of each ``(kind, hubspot_id)`` written.

    Contacts whose e-mail addresses changed (``old_keys``: their keys as loaded) get their
    ``contact_emails`` rows replaced.
    """
    ids: dict[tuple[ObjectKind, str], int] = {}
    if not rows:
        return ids
    if portal is None:
        portal = current_portal(conn)
    for kind in ("contact", "account"):
        mine = [r for r in rows if r.kind == kind]
        if not mine:
            continue
        _ensure_stage(conn, kind)
        columns = (*_COMMON, *DERIVED_COLUMNS[kind])
        stage = _stage_table(kind)
        with conn.cursor() as cur:
            with cur.copy(f"COPY {stage} (id, erased, {', '.join(columns)}) FROM STDIN") as copy:
                for r in mine:
                    s = r.state
                    copy.write_row(
                        (
                            s.record_id,
                            s.erased,
                            s.hubspot_id,
                            s.creation_source,
                            s.crm_status,
                            s.crm_status_at,
                            orjson.dumps(s.properties).decode(),
                            orjson.dumps(s.versions).decode(),
                            s.hubspot_updated_at,
                            s.hubspot_created_at,
                            s.merged_into_hubspot_id,
                            *derived_values(kind, s.properties, r.keys),
                        )
                    )
            erased_col = ", erased_at" if kind == "contact" else ""
            erased_new = ", CASE WHEN s.erased THEN now() END" if kind == "contact" else ""
            # the portal given, not the column's default: that would be a function call per row
            cur.execute(
                f"INSERT INTO {RECORD_TABLES[kind]}"
                f" (portal_id, {', '.join(columns)}, last_pulled_at{erased_col})"
                f" SELECT %s, {', '.join(_select_expr(c) for c in columns)}, now(){erased_new}"
                f" FROM {stage} s WHERE s.id IS NULL RETURNING hubspot_id, id",
                (portal,),
            )
            for hubspot_id, rid in cur.fetchall():
                ids[(kind, hubspot_id)] = rid
            erased_set = (
                ", erased_at = CASE WHEN s.erased THEN coalesce(t.erased_at, now()) END"
                if kind == "contact"
                else ""
            )
            assignments = ", ".join(f"{c} = {_select_expr(c)}" for c in columns)
            existing = [r.state.record_id for r in mine if r.state.record_id is not None]
            if existing:
                # the ids, not only the join: the planner cannot count the staged rows that have one
                # (the table is never analyzed) and guessed ~3,000 for 200, so it hashed the whole
                # table to update them (6 ms a batch at 12,000 contacts, growing with the table)
                cur.execute(
                    f"UPDATE {RECORD_TABLES[kind]} t SET {assignments},"
                    f" last_pulled_at = now(), updated_at = now(){erased_set}"
                    f" FROM {stage} s WHERE t.id = ANY(%s::bigint[]) AND s.id = t.id",
                    (int_array(existing),),
                )
            cur.execute(f"DELETE FROM {stage}")
        for r in mine:
            if r.state.record_id is not None:
                ids[(kind, r.state.hubspot_id)] = r.state.record_id
        if kind == "contact":
            _write_emails(
                conn,
                [r for r in mine if _emails_changed(old_keys.get(("contact", r.state.hubspot_id)), r)],
                ids,
                portal,
            )
    return ids


def _emails_changed(old: ContactKeys | None, row: RecordRow) -> bool:
    """Whether ``row``'s ``contact_emails`` rows must be replaced: a new or erased contact, or other
    addresses or another primary one than loaded. A change of name or company alone (the other
    matching keys, in the contact's own columns) leaves them as they are: rewriting them cost an
    update a delete and a copy of its keys, each row's foreign-key check and index entries."""
    if row.state.record_id is None or row.state.erased or old is None:
        return True
    keys: ContactKeys = row.keys
    return old.emails != keys.emails or old.primary_email != keys.primary_email


def _write_emails(
    conn: psycopg.Connection[Any],
    rows: Iterable[RecordRow],
    ids: Mapping[tuple[ObjectKind, str], int],
    portal: int,
) -> None:
    rows = list(rows)
    if not rows:
        return
    existing = [r.state.record_id for r in rows if r.state.record_id is not None]
    with conn.cursor() as cur:
        if existing:
            cur.execute(
                "DELETE FROM hubsync.contact_emails WHERE contact_id = ANY(%s::bigint[])",
                (int_array(existing),),
            )
        with cur.copy(
            "COPY hubsync.contact_emails_all (portal_id, contact_id, email_normalized, is_primary) FROM STDIN"
        ) as copy:
            for r in rows:
                if r.state.erased:
                    continue
                rid = ids[("contact", r.state.hubspot_id)]
                keys: ContactKeys = r.keys
                for email in sorted(keys.emails):
                    copy.write_row((portal, rid, email, email == keys.primary_email))
