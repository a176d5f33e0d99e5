"""The push agent's reads and writes in PostgreSQL: records, settings, results (set-based)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg

from hubsync.matching.duplicates import flag_duplicates
from hubsync.push.plan import Planned, PushSettings, RecordSnapshot
from hubsync.records.kinds import RECORD_TABLES, ObjectKind
from hubsync.storage.portal_scope import current_portal


def load_snapshots(
    conn: psycopg.Connection[Any], keys: Iterable[tuple[ObjectKind, int]]
) -> dict[tuple[ObjectKind, int], RecordSnapshot]:
    """The records named by ``keys``, one query per object kind."""
    wanted: dict[ObjectKind, list[int]] = {"contact": [], "account": []}
    for kind, record_id in keys:
        wanted[kind].append(record_id)
    out: dict[tuple[ObjectKind, int], RecordSnapshot] = {}
    for kind, ids in wanted.items():
        if not ids:
            continue
        erased = "erased_at IS NOT NULL" if kind == "contact" else "false"
        rows = conn.execute(
            f"SELECT id, hubspot_id, crm_status, merged_into_id, {erased}, properties, property_versions"
            f" FROM {RECORD_TABLES[kind]} WHERE id IN (SELECT unnest(%s::bigint[]))",
            (ids,),
        ).fetchall()
        for rid, hubspot_id, status, merged_into, is_erased, props, versions in rows:
            out[(kind, rid)] = RecordSnapshot(
                kind, rid, hubspot_id, status, merged_into, is_erased, props, versions
            )
    return out


def load_push_settings(conn: psycopg.Connection[Any]) -> PushSettings:
    values = dict(
        conn.execute(
            "SELECT key, value FROM hubsync.settings WHERE key IN ('push.enabled', 'push.scope')"
        ).fetchall()
    )
    return PushSettings(
        enabled=bool(values.get("push.enabled", True)), scope=str(values.get("push.scope", "all"))
    )


def store_results(
    conn: psycopg.Connection[Any],
    created: Sequence[tuple[Planned, str]],
    updated: Sequence[Planned],
) -> list[tuple[ObjectKind, int]]:
    """Record successful writes: new HubSpot ids linked, ``pushed`` activity rows. Returns the
    records whose new HubSpot id was already linked to another platform record (a genuine
    duplicate: they are flagged, not linked)."""
    conflicts: list[tuple[ObjectKind, int]] = []
    for planned, hubspot_id in created:
        table = RECORD_TABLES[planned.kind]
        row = conn.execute(
            f"UPDATE {table} SET hubspot_id = %(h)s, crm_status = 'synced', last_pushed_at = now(),"
            f" updated_at = now() WHERE id = %(id)s AND (hubspot_id IS NULL OR hubspot_id = %(h)s)"
            f" AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.hubspot_id = %(h)s AND o.id <> %(id)s)"
            " RETURNING id",
            {"h": hubspot_id, "id": planned.record_id},
        ).fetchone()
        if row is None:
            conflicts.append((planned.kind, planned.record_id))
    for planned in updated:
        conn.execute(
            f"UPDATE {RECORD_TABLES[planned.kind]} SET last_pushed_at = now() WHERE id = %s",
            (planned.record_id,),
        )
    rows: list[tuple[Planned, str | None]] = [(p, h) for p, h in created]
    rows += [(p, p.hubspot_id) for p in updated]
    if rows:
        portal = current_portal(conn)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY hubsync.activity_log_all (portal_id, object_type, record_id, action, rule, cause_event,"
                " after, detail) FROM STDIN"
            ) as copy,
        ):
            for planned, linked_id in rows:
                copy.write_row(
                    (
                        portal,
                        planned.kind,
                        planned.record_id,
                        "pushed",
                        "manual" if planned.manual else "platform",
                        planned.cause_events[-1] if planned.cause_events else None,
                        orjson.dumps(dict(planned.properties)).decode(),
                        orjson.dumps(
                            {
                                "operation": planned.op,
                                "hubspot_id": linked_id,
                                "not_overwritten": planned.dropped,
                            }
                        ).decode(),
                    )
                )
    for kind in ("contact", "account"):
        ids = [rid for k, rid in conflicts if k == kind]
        if ids:
            flag_duplicates(conn, kind, ids, cause_source="push")
    return conflicts
