"""Read-only views of a platform record: ``hubsync records show`` and ``hubsync activity``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from hubsync.matching.duplicates import duplicates_of
from hubsync.matching.keys import normalize_email
from hubsync.platform.errors import RecordNotFound
from hubsync.records.kinds import RECORD_TABLES, ObjectKind

__all__ = ["activity", "find_kind", "find_records", "record_view"]


def find_kind(conn: psycopg.Connection[Any], record_id: int) -> ObjectKind:
    """Whether ``record_id`` is a contact or an account; :class:`RecordNotFound` if neither."""
    row = conn.execute(
        "SELECT 'contact' FROM hubsync.contacts WHERE id = %(id)s"
        " UNION ALL SELECT 'account' FROM hubsync.accounts WHERE id = %(id)s",
        {"id": record_id},
    ).fetchone()
    if row is None:
        raise RecordNotFound(record_id)
    return "contact" if row[0] == "contact" else "account"


def find_records(
    conn: psycopg.Connection[Any],
    *,
    hubspot_id: str | None = None,
    email: str | None = None,
    kind: ObjectKind | None = None,
) -> list[tuple[ObjectKind, int]]:
    """The records with this HubSpot id (a contact's and a company's may be equal: ``kind`` picks
    one) or this e-mail address (normalized; primary or additional, contacts only), in id order."""
    if (hubspot_id is None) == (email is None):
        raise ValueError("give exactly one of hubspot_id and email")
    found: list[tuple[ObjectKind, int]] = []
    if hubspot_id is not None:
        for each in ("contact", "account"):
            if kind in (None, each):
                rows = conn.execute(
                    f"SELECT id FROM {RECORD_TABLES[each]} WHERE hubspot_id = %s ORDER BY id", (hubspot_id,)
                ).fetchall()
                found.extend((each, int(r[0])) for r in rows)
        return found
    key = normalize_email(email)
    if key is None or kind == "account":
        return found
    # every address of a contact, primary or additional, is in contact_emails (its index answers)
    rows = conn.execute(
        "SELECT DISTINCT contact_id FROM hubsync.contact_emails WHERE email_normalized = %s ORDER BY 1",
        (key,),
    ).fetchall()
    return [("contact", int(r[0])) for r in rows]


def record_view(conn: psycopg.Connection[Any], record_id: int) -> dict[str, Any]:
    """A record with its CRM status, HubSpot id, creation source, properties, potential
    duplicates (open pairs), account or contact links and the records merged into it."""
    kind = find_kind(conn, record_id)
    table = RECORD_TABLES[kind]
    params = {"id": record_id, "kind": kind}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT to_jsonb(t) AS row FROM {table} t WHERE t.id = %(id)s", params)
        found = cur.fetchone()
        assert found is not None
        row: dict[str, Any] = dict(found["row"])
        if kind == "contact":
            cur.execute(
                "SELECT l.account_id AS id, l.is_primary, a.name, a.domain, a.hubspot_id"
                " FROM hubsync.contact_account_links l JOIN hubsync.accounts a ON a.id = l.account_id"
                " WHERE l.contact_id = %(id)s AND l.removed_at IS NULL ORDER BY l.account_id",
                params,
            )
            links_key = "accounts"
        else:
            cur.execute(
                "SELECT l.contact_id AS id, l.is_primary, c.email,"
                " nullif(concat_ws(' ', c.first_name, c.last_name), '') AS name, c.hubspot_id"
                " FROM hubsync.contact_account_links l JOIN hubsync.contacts c ON c.id = l.contact_id"
                " WHERE l.account_id = %(id)s AND l.removed_at IS NULL ORDER BY l.contact_id",
                params,
            )
            links_key = "contacts"
        links = list(cur.fetchall())
        cur.execute(f"SELECT id FROM {table} WHERE merged_into_id = %(id)s ORDER BY id", params)
        merged = [r["id"] for r in cur.fetchall()]
    return {
        "id": row["id"],
        "object_type": kind,
        "hubspot_id": row["hubspot_id"],
        "crm_status": row["crm_status"],
        "creation_source": row["creation_source"],
        "deleted_in_platform": row["deleted_at"] is not None,
        "deleted_at": row["deleted_at"],
        "merged_into_id": row["merged_into_id"],
        "crm_merged_into_hubspot_id": row["crm_merged_into_hubspot_id"],
        "erased": row.get("erased_at") is not None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_pushed_at": row["last_pushed_at"],
        "properties": row["properties"],
        "duplicates": [
            {"record_id": other, "signal": signal} for other, signal in duplicates_of(conn, kind, record_id)
        ],
        links_key: links,
        "merged_records": merged,
    }


def activity(conn: psycopg.Connection[Any], record_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A record's activity log, newest first: action, field, before/after, rule and cause."""
    kind = find_kind(conn, record_id)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, occurred_at, action, field, before, after, rule, cause_source, cause_event, detail"
            " FROM hubsync.activity_log WHERE object_type = %s AND record_id = %s"
            " ORDER BY occurred_at DESC, id DESC LIMIT %s",
            (kind, record_id, limit),
        )
        return list(cur.fetchall())
