"""The canonical, merged records of the compacted ``crm.contacts`` / ``crm.accounts`` topics.

:func:`canonical_contacts` and :func:`canonical_accounts` read a batch of platform records with
one set-based query each (the related arrays are aggregated in SQL, per table, for the whole
batch) and return Avro-ready dicts for ``crm_contact.avsc`` / ``crm_account.avsc``:

* enum values upper-case (``synced`` -> ``SYNCED``);
* timestamps as Unix milliseconds (ints), the value ``timestamp-millis`` holds: fastavro writes
  them as they are, where an aware datetime would cost it a conversion per field (measured: 22 µs
  per record encoded instead of 13, on ingest's hot path); readers decode them as datetimes;
* ``properties`` values as strings or None (jsonb numbers and booleans as their JSON text,
  objects and arrays as compact JSON), as the schema's ``map<["null","string"]>`` wants;
* ``deleted_at``: when the record was deleted in the platform (it is kept and takes no more
  changes), None otherwise;
* a contact whose personal data was erased (a HubSpot privacy deletion, ``erased_at`` set) has
  ``erased`` true and no email, names, additional emails or properties: its row is kept for
  audit, but nothing personal leaves the database.

Records that do not exist are left out; the result is ordered by ``record_id``. The message key
of both topics is :func:`crm_key`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row

from hubsync.storage.arrays import int_array

__all__ = [
    "ACCOUNTS_SQL",
    "CONTACTS_SQL",
    "acanonical_accounts",
    "acanonical_contacts",
    "alock_canonical",
    "canonical_account_values",
    "canonical_accounts",
    "canonical_contact_values",
    "canonical_contacts",
    "crm_key",
    "lock_canonical",
    "publishes_canonical",
]

# The columns are the Avro schemas' fields, in their order (crm_contact.avsc, crm_account.avsc), so
# a row encodes as it comes (canonical_contact_values; tests/storage/test_canonical.py holds the two
# to each other). Each CTE reads only the rows of the batch, driven by the unnested ids through the indexes (a
# filter like ``record_a IN (SELECT id FROM wanted)`` let a planner with stale statistics scan every
# pair per batch row: 49 ms per batch of 100 at 100,000 contacts), and aggregates them per record,
# so the query costs one index lookup per record and table whatever the tables' size. The records
# themselves are found by ``id = ANY(ids)``: joined to ``wanted``, a batch of 2,000 over ~15,000 contacts
# was a merge join walking the whole primary key (5-7 ms a batch, growing with the table). Array order
# is deterministic, so an unchanged record encodes to the same bytes (compaction-friendly, testable).
CONTACTS_SQL: LiteralString = """
WITH wanted AS (
    SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id
),
extra_emails AS (
    SELECT e.contact_id AS id, array_agg(e.email_normalized ORDER BY e.email_normalized) AS emails
    FROM hubsync.contact_emails e
    WHERE e.contact_id IN (SELECT id FROM wanted) AND NOT e.is_primary
    GROUP BY e.contact_id
),
links AS (
    SELECT l.contact_id AS id,
           array_agg(l.account_id ORDER BY l.account_id) AS account_ids,
           min(l.account_id) FILTER (WHERE l.is_primary) AS primary_account_id
    FROM hubsync.contact_account_links l
    WHERE l.contact_id IN (SELECT id FROM wanted) AND l.removed_at IS NULL
    GROUP BY l.contact_id
),
dup_pairs AS (
    SELECT d.record_a AS id, d.record_b AS other
    FROM wanted w
    JOIN hubsync.potential_duplicates d ON d.object_type = 'contact' AND d.record_a = w.id
    WHERE d.resolved_at IS NULL
    UNION
    SELECT d.record_b, d.record_a
    FROM wanted w
    JOIN hubsync.potential_duplicates d ON d.object_type = 'contact' AND d.record_b = w.id
    WHERE d.resolved_at IS NULL
),
dups AS (
    SELECT id, array_agg(other ORDER BY other) AS ids FROM dup_pairs GROUP BY id
)
SELECT c.id AS record_id,
       c.hubspot_id,
       upper(c.crm_status) AS crm_status,
       upper(c.creation_source) AS creation_source,
       CASE WHEN c.erased_at IS NULL THEN c.email END AS email,
       CASE WHEN c.erased_at IS NULL THEN coalesce(x.emails, '{}') ELSE '{}' END AS additional_emails,
       CASE WHEN c.erased_at IS NULL THEN c.first_name END AS first_name,
       CASE WHEN c.erased_at IS NULL THEN c.last_name END AS last_name,
       CASE WHEN c.erased_at IS NULL THEN c.properties ELSE '{}'::jsonb END AS properties,
       coalesce(l.account_ids, '{}') AS account_ids,
       l.primary_account_id,
       coalesce(d.ids, '{}') AS potential_duplicate_ids,
       c.merged_into_id,
       c.erased_at IS NOT NULL AS erased,
       floor(extract(epoch FROM c.hubspot_updated_at) * 1000)::bigint AS hubspot_updated_at,
       floor(extract(epoch FROM c.updated_at) * 1000)::bigint AS updated_at,
       floor(extract(epoch FROM c.deleted_at) * 1000)::bigint AS deleted_at,
       c.portal_id
FROM hubsync.contacts c
LEFT JOIN extra_emails x ON x.id = c.id
LEFT JOIN links l ON l.id = c.id
LEFT JOIN dups d ON d.id = c.id
WHERE c.id = ANY(%(ids)s::bigint[])
ORDER BY c.id
"""

ACCOUNTS_SQL: LiteralString = """
WITH wanted AS (
    SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id
),
links AS (
    SELECT l.account_id AS id, array_agg(l.contact_id ORDER BY l.contact_id) AS contact_ids
    FROM hubsync.contact_account_links l
    WHERE l.account_id IN (SELECT id FROM wanted) AND l.removed_at IS NULL
    GROUP BY l.account_id
),
dup_pairs AS (
    SELECT d.record_a AS id, d.record_b AS other
    FROM wanted w
    JOIN hubsync.potential_duplicates d ON d.object_type = 'account' AND d.record_a = w.id
    WHERE d.resolved_at IS NULL
    UNION
    SELECT d.record_b, d.record_a
    FROM wanted w
    JOIN hubsync.potential_duplicates d ON d.object_type = 'account' AND d.record_b = w.id
    WHERE d.resolved_at IS NULL
),
dups AS (
    SELECT id, array_agg(other ORDER BY other) AS ids FROM dup_pairs GROUP BY id
)
SELECT a.id AS record_id,
       a.hubspot_id,
       upper(a.crm_status) AS crm_status,
       upper(a.creation_source) AS creation_source,
       a.name,
       a.domain,
       a.domain_root,
       a.properties,
       coalesce(l.contact_ids, '{}') AS contact_ids,
       coalesce(d.ids, '{}') AS potential_duplicate_ids,
       a.merged_into_id,
       floor(extract(epoch FROM a.hubspot_updated_at) * 1000)::bigint AS hubspot_updated_at,
       floor(extract(epoch FROM a.updated_at) * 1000)::bigint AS updated_at,
       floor(extract(epoch FROM a.deleted_at) * 1000)::bigint AS deleted_at,
       a.portal_id
FROM hubsync.accounts a
LEFT JOIN links l ON l.id = a.id
LEFT JOIN dups d ON d.id = a.id
WHERE a.id = ANY(%(ids)s::bigint[])
ORDER BY a.id
"""


# the portal's own lock, hashed by the server so every publisher (ingest, the relay) names it alike
_LOCK_CANONICAL: LiteralString = (
    "SELECT pg_advisory_xact_lock("
    "hashtextextended('hubsync.canonical:' || hubsync.current_portal()::text, 0))"
)


def lock_canonical(conn: psycopg.Connection[Any]) -> None:
    """Hold the current portal's canonical-publishing lock until the transaction ends.

    Whoever publishes canonical records reads them in a transaction holding this lock and keeps it
    until Kafka has acknowledged them, so a portal's records reach ``crm.*`` in the order they were
    read, and the last message of a key is the newest state read. Without it two publishers (two
    consumers of a worker, two workers, ingest and the relay) could read a record one after the
    other and be acknowledged the other way round: a batch that read an account before another
    batch linked a contact to it, then was slower to publish, would leave the compacted topic with
    the older account until the account changed again."""
    conn.execute(_LOCK_CANONICAL)


async def alock_canonical(conn: psycopg.AsyncConnection[Any]) -> None:
    """:func:`lock_canonical` on an asyncio connection."""
    await conn.execute(_LOCK_CANONICAL)


def publishes_canonical(conn: psycopg.Connection[Any]) -> None:
    """Say that this transaction's caller publishes the canonical records of the duplicate pairs
    it flags (ingest does, after the commit): the relay is not asked to (migration 0014). Pairs
    dropped or resolved are still asked for."""
    conn.execute("SELECT set_config('hubsync.publishes_canonical', 'on', true)")


def crm_key(record_id: int) -> bytes:
    """The message key of ``crm.contacts`` / ``crm.accounts``: the record id, decimal, UTF-8."""
    return str(record_id).encode("utf-8")


def _property_text(value: Any) -> str | None:
    """A jsonb property value as the Avro map's ``["null", "string"]``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _property_map(properties: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A record's ``properties`` as the schema's map of strings: the parsed object as it is when
    every value is a string or null (HubSpot's are), else a copy with the others as text."""
    if properties is None:
        return {}
    for value in properties.values():
        if value is not None and type(value) is not str:  # a JSON number, boolean, object or array
            return {str(k): _property_text(v) for k, v in properties.items()}
    return properties


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    row["properties"] = _property_map(row["properties"])
    return row


#: where ``properties`` is in a row of CONTACTS_SQL / ACCOUNTS_SQL
CONTACT_PROPERTIES_AT = 8
ACCOUNT_PROPERTIES_AT = 7


def _finish_values(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    """:func:`_finish` of a row as a tuple, whose properties are at ``at``."""
    properties = _property_map(row[at])
    return row if properties is row[at] else (*row[:at], properties, *row[at + 1 :])


def _params(record_ids: Sequence[int]) -> dict[str, str]:
    return {"ids": int_array(record_ids)}


def _read_values(
    conn: psycopg.Connection[Any], sql: LiteralString, properties_at: int, record_ids: Sequence[int]
) -> list[tuple[Any, ...]]:
    if not record_ids:
        return []
    with conn.cursor() as cur:
        cur.execute(sql, _params(record_ids))
        return [_finish_values(row, properties_at) for row in cur.fetchall()]


def canonical_contacts(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> list[dict[str, Any]]:
    """``CrmContact`` values of the contacts ``record_ids`` (missing ids left out), by record id."""
    if not record_ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(CONTACTS_SQL, _params(record_ids))
        return [_finish(row) for row in cur.fetchall()]


def canonical_contact_values(
    conn: psycopg.Connection[Any], record_ids: Sequence[int]
) -> list[tuple[Any, ...]]:
    """:func:`canonical_contacts` as tuples of ``CrmContact``'s field values in the schema's order
    (:meth:`~hubsync.avro.codec.AvroCodec.encode_fields` writes them as they are): ingest's hot path,
    where making a dict of each row cost ~3 µs a record."""
    return _read_values(conn, CONTACTS_SQL, CONTACT_PROPERTIES_AT, record_ids)


def canonical_account_values(
    conn: psycopg.Connection[Any], record_ids: Sequence[int]
) -> list[tuple[Any, ...]]:
    """:func:`canonical_accounts` as tuples of ``CrmAccount``'s field values in the schema's order."""
    return _read_values(conn, ACCOUNTS_SQL, ACCOUNT_PROPERTIES_AT, record_ids)


def canonical_accounts(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> list[dict[str, Any]]:
    """``CrmAccount`` values of the accounts ``record_ids`` (missing ids left out), by record id."""
    if not record_ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(ACCOUNTS_SQL, _params(record_ids))
        return [_finish(row) for row in cur.fetchall()]


async def acanonical_contacts(
    conn: psycopg.AsyncConnection[Any], record_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """:func:`canonical_contacts` on an asyncio connection."""
    if not record_ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(CONTACTS_SQL, _params(record_ids))
        return [_finish(row) for row in await cur.fetchall()]


async def acanonical_accounts(
    conn: psycopg.AsyncConnection[Any], record_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """:func:`canonical_accounts` on an asyncio connection."""
    if not record_ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ACCOUNTS_SQL, _params(record_ids))
        return [_finish(row) for row in await cur.fetchall()]
