"""Potential-duplicate detection in PostgreSQL (SPEC section 1, "Duplicates").

Duplicates are flagged, never merged: a pair of records of one type that share a key is stored
once in ``hubsync.potential_duplicates`` (``record_a < record_b``, one row per signal) and each
newly flagged pair writes a ``flagged_duplicate`` activity row on both records.

Signals:

* contacts ``email``: any shared normalized address, ``hs_additional_emails`` included;
* contacts ``name_company``: same ``name_normalized`` and the same company, by
  ``company_name_key`` or by ``company_domain_root`` (never a free mailbox provider's domain);
* accounts ``domain``: same ``domain_root``; accounts ``name_company``: same ``name_normalized``.

Records merged away in the platform (``merged_into_id`` set) and erased contacts (``erased_at``
set) neither get flagged nor count as the other side of a pair. Every creation source and CRM
status counts otherwise: a platform-created record duplicates a HubSpot-created one just the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from hubsync.matching.freemail import FREEMAIL_DOMAINS
from hubsync.matching.record_keys import (
    AccountKeys,
    ContactKeys,
    DedupKey,
    DedupSignal,
    dedup_keys,
    lock_id,
    object_type_lock_id,
)
from hubsync.records.kinds import ObjectKind
from hubsync.storage.arrays import int_array, text_array
from hubsync.storage.locks import take_locks
from hubsync.storage.portal_scope import current_portal

__all__ = ["MAX_KEY_LOCKS", "DuplicatePair", "duplicates_of", "flag_duplicates", "open_duplicates"]


@dataclass(frozen=True, slots=True, order=True)
class DuplicatePair:
    """Two records of one type that look like the same person or company (``record_a < record_b``)."""

    object_type: ObjectKind
    record_a: int
    record_b: int
    signal: DedupSignal


# ---- reading the keys of the batch ---------------------------------------------------------------

_CONTACT_KEYS = """
SELECT c.id, c.name_normalized, c.company_name_key, c.company_domain_root,
       coalesce(array_agg(e.email_normalized) FILTER (WHERE e.email_normalized IS NOT NULL), '{}')
  FROM hubsync.contacts c
  LEFT JOIN hubsync.contact_emails e ON e.contact_id = c.id
 WHERE c.id = ANY(%(ids)s::bigint[]) AND c.merged_into_id IS NULL AND c.erased_at IS NULL
 GROUP BY c.id, c.name_normalized, c.company_name_key, c.company_domain_root
"""

_ACCOUNT_KEYS = """
SELECT a.id, a.domain_root, a.name_normalized
  FROM hubsync.accounts a
 WHERE a.id = ANY(%(ids)s::bigint[]) AND a.merged_into_id IS NULL
"""

#: the free mailbox providers' domains, as the statements' ``text[]`` parameter
_FREEMAIL = text_array(sorted(FREEMAIL_DOMAINS))

#: above this many distinct keys a batch locks its whole object type instead of each key: every
#: advisory lock takes a slot of the server's shared lock table (max_locks_per_transaction x
#: max_connections, 6,400 by default), and running out fails every transaction on the server.
#: The same as ``HUBSYNC_INGEST_MAX_LOCKS``' default
MAX_KEY_LOCKS = 128

# ---- finding, storing and logging the pairs: one statement ----------------------------------------

# The batch is unnested into a materialized table, and each of its keys is looked up on its own
# (``LATERAL ... OFFSET 0``, which the planner cannot flatten into a join): one index lookup per key
# of the batch (contact_emails.email_normalized, contacts (name, company key) and (name, company
# domain), accounts.domain_root ...), whatever the tables' size. As plain joins, the planner hashed
# the whole contacts and e-mail tables for a batch of 2,000 over 12,000-19,000 contacts (13-14 ms
# of a 25 ms statement, growing with the tables until the plan flipped), where the lookups take
# ~2 µs each. The contacts' name_company signal is two exact lookups, one per company key, rather
# than the name alone filtered on either company key: at 1,000,000 contacts a name matched ~40
# rows, a name and company one or two (migration 0012).
# Written as ``id = ANY(array)`` filters instead, a freshly loaded table whose statistics are not
# analyzed yet (a backfill) gets nested loops re-checking the whole array for every row of the
# table: measured 100 s for one batch of 2,000 against 40,000 contacts, against ~20 ms this way.
# The batch's keys come from two places: ``given``, the keys of the records the caller inserted in
# this transaction (arrays, not read back: a backfill batch is mostly new records), and ``stored``,
# the other records' keys as stored (``ids``: their ids).
_CONTACT_PAIRS = """
WITH stored AS MATERIALIZED (
    SELECT c.id, c.name_normalized, c.company_name_key, c.company_domain_root
      FROM unnest(%(ids)s::bigint[]) AS b(id)
     CROSS JOIN LATERAL (
           SELECT c.id, c.name_normalized, c.company_name_key, c.company_domain_root
             FROM hubsync.contacts c
            WHERE c.id = b.id AND c.merged_into_id IS NULL AND c.erased_at IS NULL
           OFFSET 0) AS c
),
batch AS MATERIALIZED (
    SELECT g.id, g.name_normalized, g.company_name_key, g.company_domain_root
      FROM unnest(%(given_ids)s::bigint[], %(given_names)s::text[], %(given_companies)s::text[],
                  %(given_domains)s::text[]) AS g(id, name_normalized, company_name_key, company_domain_root)
    UNION ALL
    SELECT * FROM stored
),
mine AS MATERIALIZED (
    SELECT g.contact_id, g.email_normalized
      FROM unnest(%(given_email_ids)s::bigint[], %(given_emails)s::text[]) AS g(contact_id, email_normalized)
    UNION ALL
    SELECT b.id, e.email_normalized
      FROM stored b
     CROSS JOIN LATERAL (SELECT x.email_normalized FROM hubsync.contact_emails x
                          WHERE x.contact_id = b.id OFFSET 0) AS e
)
SELECT m.contact_id AS id, o.id AS other, 'email' AS signal
  FROM mine m
 CROSS JOIN LATERAL (
       SELECT oc.id
         FROM hubsync.contact_emails x
         JOIN hubsync.contacts oc ON oc.id = x.contact_id
        WHERE x.email_normalized = m.email_normalized AND x.contact_id <> m.contact_id
          AND oc.merged_into_id IS NULL AND oc.erased_at IS NULL
       OFFSET 0) AS o
UNION
SELECT s.id, o.id, 'name_company'
  FROM batch s
 CROSS JOIN LATERAL (
       SELECT c.id FROM hubsync.contacts c
        WHERE c.name_normalized = s.name_normalized AND c.company_name_key = s.company_name_key
          AND c.id <> s.id AND c.merged_into_id IS NULL AND c.erased_at IS NULL
       OFFSET 0) AS o
UNION
SELECT s.id, o.id, 'name_company'
  FROM batch s
 CROSS JOIN LATERAL (
       SELECT c.id FROM hubsync.contacts c
        WHERE c.name_normalized = s.name_normalized AND c.company_domain_root = s.company_domain_root
          AND c.id <> s.id AND c.merged_into_id IS NULL AND c.erased_at IS NULL
       OFFSET 0) AS o
 WHERE s.company_domain_root <> ALL(%(freemail)s::text[])
"""

_ACCOUNT_PAIRS = """
WITH batch AS MATERIALIZED (
    SELECT g.id, g.domain_root, g.name_normalized
      FROM unnest(%(given_ids)s::bigint[], %(given_domains)s::text[], %(given_names)s::text[])
           AS g(id, domain_root, name_normalized)
    UNION ALL
    SELECT a.id, a.domain_root, a.name_normalized
      FROM unnest(%(ids)s::bigint[]) AS b(id)
     CROSS JOIN LATERAL (
           SELECT a.id, a.domain_root, a.name_normalized FROM hubsync.accounts a
            WHERE a.id = b.id AND a.merged_into_id IS NULL
           OFFSET 0) AS a
)
SELECT s.id, o.id AS other, 'domain' AS signal
  FROM batch s
 CROSS JOIN LATERAL (
       SELECT a.id FROM hubsync.accounts a
        WHERE a.domain_root = s.domain_root AND a.id <> s.id AND a.merged_into_id IS NULL
       OFFSET 0) AS o
UNION
SELECT s.id, o.id, 'name_company'
  FROM batch s
 CROSS JOIN LATERAL (
       SELECT a.id FROM hubsync.accounts a
        WHERE a.name_normalized = s.name_normalized AND a.id <> s.id AND a.merged_into_id IS NULL
       OFFSET 0) AS o
"""

# Unresolved pairs of the batch's records that no longer match on their signal (a key was
# corrected, a record erased or merged away in the platform) are dropped before flagging, so the
# open pairs follow the records' current keys whatever order the changes arrived in. Pairs a
# person resolved are kept as they are.
_STALE_CONTACTS = """
DELETE FROM hubsync.potential_duplicates d
 WHERE d.object_type = 'contact' AND d.resolved_at IS NULL
   AND (d.record_a IN (SELECT unnest(%(ids)s::bigint[])) OR d.record_b IN (SELECT unnest(%(ids)s::bigint[])))
   AND NOT EXISTS (
       SELECT 1 FROM hubsync.contacts a JOIN hubsync.contacts b ON b.id = d.record_b
        WHERE a.id = d.record_a
          AND a.merged_into_id IS NULL AND a.erased_at IS NULL
          AND b.merged_into_id IS NULL AND b.erased_at IS NULL
          AND CASE d.signal
                WHEN 'email' THEN EXISTS (
                    SELECT 1 FROM hubsync.contact_emails x
                      JOIN hubsync.contact_emails y ON y.email_normalized = x.email_normalized
                     WHERE x.contact_id = a.id AND y.contact_id = b.id)
                ELSE a.name_normalized = b.name_normalized
                     AND (a.company_name_key = b.company_name_key
                          OR (a.company_domain_root = b.company_domain_root
                              AND a.company_domain_root <> ALL(%(freemail)s::text[])))
              END)
"""

_STALE_ACCOUNTS = """
DELETE FROM hubsync.potential_duplicates d
 WHERE d.object_type = 'account' AND d.resolved_at IS NULL
   AND (d.record_a IN (SELECT unnest(%(ids)s::bigint[])) OR d.record_b IN (SELECT unnest(%(ids)s::bigint[])))
   AND NOT EXISTS (
       SELECT 1 FROM hubsync.accounts a JOIN hubsync.accounts b ON b.id = d.record_b
        WHERE a.id = d.record_a AND a.merged_into_id IS NULL AND b.merged_into_id IS NULL
          AND CASE d.signal
                WHEN 'domain' THEN a.domain_root = b.domain_root
                ELSE a.name_normalized = b.name_normalized
              END)
"""

_FLAG = """
WITH found AS ({pairs}),
pairs AS (
    SELECT DISTINCT least(id, other) AS record_a, greatest(id, other) AS record_b, signal FROM found
),
inserted AS (
    INSERT INTO hubsync.potential_duplicates (object_type, record_a, record_b, signal)
    SELECT %(object_type)s, p.record_a, p.record_b, p.signal FROM pairs p
     -- a pair a person marked "not a duplicate" (any signal) is never flagged again
     WHERE NOT EXISTS (SELECT 1 FROM hubsync.potential_duplicates x
                        WHERE x.object_type = %(object_type)s AND x.record_a = p.record_a
                          AND x.record_b = p.record_b AND x.resolution = 'not_duplicate')
    ON CONFLICT DO NOTHING
    RETURNING record_a, record_b, signal
),
logged AS (
    INSERT INTO hubsync.activity_log (object_type, record_id, action, cause_source, cause_event, detail)
    SELECT %(object_type)s, side.record_id, 'flagged_duplicate', %(cause_source)s, %(cause_event)s,
           jsonb_build_object('duplicate_of', side.other, 'signal', i.signal)
      FROM inserted i
     CROSS JOIN LATERAL (VALUES (i.record_a, i.record_b), (i.record_b, i.record_a)) AS side(record_id, other)
)
SELECT record_a, record_b, signal FROM inserted ORDER BY record_a, record_b, signal
"""
_FLAG_CONTACTS = _FLAG.replace("{pairs}", _CONTACT_PAIRS)
_FLAG_ACCOUNTS = _FLAG.replace("{pairs}", _ACCOUNT_PAIRS)


def flag_duplicates(
    conn: psycopg.Connection[Any],
    object_type: ObjectKind,
    record_ids: Sequence[int],
    *,
    cause_source: str | None = None,
    cause_event: str | None = None,
    max_key_locks: int = MAX_KEY_LOCKS,
    portal: int | None = None,
    inserted: Mapping[int, ContactKeys | AccountKeys] | None = None,
) -> list[DuplicatePair]:
    """Flag every potential duplicate of ``record_ids`` and return the pairs flagged for the first time.

    ``inserted``: the matching keys of records of ``record_ids`` that this transaction inserted
    with exactly these keys (key columns and ``contact_emails``) and that are live (not erased),
    by id. Their keys are taken from here instead of read back, which a backfill batch, mostly
    new records, would otherwise do for all of them; the other records' keys are read as stored
    (a record stored before this transaction may have been merged away in the platform since).

    Runs in the caller's transaction, the one that wrote the records' keys, and in a few
    statements whatever the batch size: read the keys not given (none when all are), lock them,
    drop the batch's stale pairs, then find, store and log the pairs. Pairs already stored
    (resolved or not) are left alone and not returned, so a redelivered batch changes nothing;
    :func:`duplicates_of` lists a record's open pairs.

    **Why the locks come first.** Two workers may commit records sharing a key at the same time
    (different partitions, a HubSpot-created and a platform-created record, ...). Each
    transaction's own query cannot see the other's uncommitted rows, so without coordination both
    would find nothing and the pair would never be flagged. Here each transaction first takes a
    transaction-scoped advisory lock (``pg_advisory_xact_lock``) on every key of its batch, in
    one statement and in sorted order (so two batches cannot deadlock on each other's keys), and
    only then queries. Of two transactions with a key in common, the second to ask for its lock
    waits until the first commits (which releases it); under READ COMMITTED its query, a new
    statement with a new snapshot, then sees the first transaction's committed rows and flags the
    pair. The locks are released at the caller's commit or rollback.

    That is why the caller must use READ COMMITTED (a REPEATABLE READ snapshot, taken before the
    wait, would never see the other rows; :class:`ValueError` here) and must call this in the
    same transaction that wrote (or changed) the keys, before committing. Every code path that
    writes keys (ingest, platform-side creates and edits) has to call it: a writer that skips it
    neither waits nor is waited for.

    Every call also holds a lock on the object type as a whole: shared normally, so batches
    with disjoint keys run in parallel; exclusive, in place of the key locks, for a batch with more
    than ``max_key_locks`` distinct keys (a backfill page), because each advisory lock takes a slot
    of the server's finite shared lock table. Such a batch waits for, and then holds off, every
    other flagging transaction of that object type, which keeps detection exact. The object type's
    lock always comes first, so the two kinds cannot deadlock each other.
    """
    _check_transaction(conn)
    ids = sorted(set(record_ids))
    if not ids:
        return []
    if object_type not in ("contact", "account"):
        raise ValueError(f"unknown object type {object_type!r}")
    given = {i: inserted[i] for i in ids if i in inserted} if inserted else {}
    given_arrays = _given_keys(object_type, given)  # checks their kind before any lock is taken
    stored = int_array([i for i in ids if i not in given])
    if len(ids) > max_key_locks:  # more keys than that for sure: no need to read them
        exclusive, keys = True, set()
    else:
        keys = {key for k in given.values() for key in dedup_keys(object_type, k)}
        if len(given) < len(ids):
            keys |= _batch_keys(conn, object_type, stored)
        exclusive = len(keys) > max_key_locks
    if portal is None:  # the caller may know it (ingest does): a round trip saved per batch
        portal = current_portal(conn)
    # the object type's lock first (shared, or exclusive when it stands in for the keys), then the keys'
    type_lock = [object_type_lock_id(object_type, portal)]
    if exclusive:
        take_locks(conn, exclusive=type_lock)
    else:
        take_locks(conn, shared=type_lock, single={lock_id(key, portal) for key in keys})
    conn.execute(
        _STALE_CONTACTS if object_type == "contact" else _STALE_ACCOUNTS,
        {"ids": int_array(ids), "freemail": _FREEMAIL},
    )
    rows = conn.execute(
        _FLAG_CONTACTS if object_type == "contact" else _FLAG_ACCOUNTS,
        {
            "ids": stored,
            **given_arrays,
            "object_type": object_type,
            "freemail": _FREEMAIL,
            "cause_source": cause_source,
            "cause_event": cause_event,
        },
    ).fetchall()
    return [DuplicatePair(object_type, int(a), int(b), signal) for a, b, signal in rows]


def _given_keys(object_type: ObjectKind, given: Mapping[int, ContactKeys | AccountKeys]) -> dict[str, str]:
    """The pairs statement's ``given_*`` arrays for the keys of ``given`` (see :func:`flag_duplicates`)."""
    ids = sorted(given)
    if object_type == "contact":
        contacts = [_contact(given[i]) for i in ids]
        emails = [(i, email) for i, k in zip(ids, contacts, strict=True) for email in sorted(k.emails)]
        return {
            "given_ids": int_array(ids),
            "given_names": text_array([k.name_normalized for k in contacts]),
            "given_companies": text_array([k.company_name_key for k in contacts]),
            "given_domains": text_array([k.company_domain_root for k in contacts]),
            "given_email_ids": int_array([i for i, _ in emails]),
            "given_emails": text_array([email for _, email in emails]),
        }
    accounts = [_account(given[i]) for i in ids]
    return {
        "given_ids": int_array(ids),
        "given_domains": text_array([k.domain_root for k in accounts]),
        "given_names": text_array([k.name_normalized for k in accounts]),
    }


def _contact(keys: ContactKeys | AccountKeys) -> ContactKeys:
    if not isinstance(keys, ContactKeys):
        raise ValueError("account keys given for object type 'contact'")
    return keys


def _account(keys: ContactKeys | AccountKeys) -> AccountKeys:
    if not isinstance(keys, AccountKeys):
        raise ValueError("contact keys given for object type 'account'")
    return keys


def _check_transaction(conn: psycopg.Connection[Any]) -> None:
    if conn.isolation_level not in (None, IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED):
        raise ValueError(
            f"flag_duplicates needs READ COMMITTED, the connection uses {conn.isolation_level.name}"
        )
    if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        raise ValueError("flag_duplicates must run inside the transaction that wrote the records")


def _batch_keys(conn: psycopg.Connection[Any], object_type: ObjectKind, batch: str) -> set[DedupKey]:
    """The dedup keys of the batch's live records (``batch``: their ids as an array literal), as
    stored (not recomputed from properties)."""
    keys: set[DedupKey] = set()
    if object_type == "contact":
        for _id, name, company, domain, emails in conn.execute(_CONTACT_KEYS, {"ids": batch}):
            if domain in FREEMAIL_DOMAINS:
                domain = None
            contact = ContactKeys(frozenset(emails), None, name, company, domain)
            keys.update(dedup_keys("contact", contact))
    else:  # an account: flag_duplicates refused any other object type
        for _id, domain, name in conn.execute(_ACCOUNT_KEYS, {"ids": batch}):
            keys.update(dedup_keys("account", AccountKeys(domain, name)))
    return keys


def duplicates_of(
    conn: psycopg.Connection[Any], object_type: ObjectKind, record_id: int
) -> list[tuple[int, str]]:
    """The records ``record_id`` is an unresolved potential duplicate of: ``(other id, signal)``,
    by id then signal."""
    rows = conn.execute(
        """
        SELECT CASE WHEN record_a = %(id)s THEN record_b ELSE record_a END AS other, signal
          FROM hubsync.potential_duplicates
         WHERE object_type = %(t)s AND (record_a = %(id)s OR record_b = %(id)s) AND resolved_at IS NULL
         ORDER BY 1, 2
        """,
        {"id": record_id, "t": object_type},
    ).fetchall()
    return [(int(other), str(signal)) for other, signal in rows]


_CONTACT_SUMMARY = """
SELECT jsonb_build_object('id', c.id, 'hubspot_id', c.hubspot_id, 'creation_source', c.creation_source,
                          'crm_status', c.crm_status, 'email', c.email,
                          'name', nullif(concat_ws(' ', c.first_name, c.last_name), ''))
  FROM hubsync.contacts c WHERE c.id = p.{side}
"""
_ACCOUNT_SUMMARY = """
SELECT jsonb_build_object('id', a.id, 'hubspot_id', a.hubspot_id, 'creation_source', a.creation_source,
                          'crm_status', a.crm_status, 'name', a.name, 'domain', a.domain)
  FROM hubsync.accounts a WHERE a.id = p.{side}
"""


def _summary(side: str) -> str:
    contact = _CONTACT_SUMMARY.format(side=side)
    account = _ACCOUNT_SUMMARY.format(side=side)
    return f"CASE WHEN p.object_type = 'contact' THEN ({contact}) ELSE ({account}) END AS {side}"


# the page of pairs first, then the two summaries of each (index look-ups, not a scan of every record)
_OPEN = f"""
SELECT p.object_type, p.signal, p.detected_at, {_summary("record_a")}, {_summary("record_b")}
  FROM (SELECT * FROM hubsync.potential_duplicates d
         WHERE d.resolved_at IS NULL AND (%(t)s::text IS NULL OR d.object_type = %(t)s::text)
         ORDER BY d.detected_at DESC, d.object_type, d.record_a, d.record_b, d.signal
         LIMIT %(limit)s) AS p
 ORDER BY p.detected_at DESC, p.object_type, p.record_a, p.record_b, p.signal
"""


def open_duplicates(
    conn: psycopg.Connection[Any], object_type: ObjectKind | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Unresolved pairs, newest first, each with a short summary of both records.

    A row: ``{"object_type", "signal", "detected_at", "record_a", "record_b"}``; a record summary
    holds ``id``, ``hubspot_id``, ``creation_source``, ``crm_status`` and ``email``/``name`` for a
    contact, ``name``/``domain`` for an account.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_OPEN, {"t": object_type, "limit": limit})
        return list(cur.fetchall())
