"""Marking prospect-database entries that exist in the CRM (SPEC section 1, "remove matches").

A prospect person is *in the CRM* while some contact with the same normalized e-mail address
(primary or additional, ``hubsync.contact_emails``) is linked to HubSpot (``hubspot_id`` set), is
not deleted there (``crm_status <> 'deleted_in_crm'``) and is not erased (privacy deletion). An
organization is in the CRM while some account with the same root domain is linked and not
deleted. In-CRM prospects drop out of the net-new views; a deletion in HubSpot puts them back.

:func:`mark_prospects` recomputes the flags for the keys a batch touched, set-based, and updates
only rows whose flag or matched record changes, so a redelivered batch writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hubsync.storage.arrays import text_array

__all__ = ["ProspectMarks", "mark_prospects", "net_new_organizations", "net_new_people"]


@dataclass(frozen=True, slots=True)
class ProspectMarks:
    """How many prospects became in-CRM (marked) or stopped being so (unmarked)."""

    people_marked: int = 0
    people_unmarked: int = 0
    organizations_marked: int = 0
    organizations_unmarked: int = 0


# in_crm_since keeps its value while the prospect stays in the CRM, starts now when it enters it
# and is cleared when it leaves; a change of the matched record alone keeps in_crm_since.
# MATERIALIZED: inlined, the CTE's correlated lookup of the match was planned (and could run) once
# per reference to it, five times: 3.4 ms a batch of 105 keys against 1.8 ms (planning 2.0 ms
# against 0.5), measured over 10,000 contacts.
_MARK_PEOPLE = """
WITH wanted AS MATERIALIZED (
    SELECT p.id, p.in_crm AS was_in_crm,
           (SELECT min(e.contact_id)
              FROM hubsync.contact_emails e
              JOIN hubsync.contacts c ON c.id = e.contact_id
             WHERE e.email_normalized = p.email_normalized
               AND c.hubspot_id IS NOT NULL AND c.crm_status <> 'deleted_in_crm' AND c.erased_at IS NULL
           ) AS match
      FROM hubsync.prospect_people p
     WHERE p.email_normalized = ANY(%(keys)s::text[])
)
UPDATE hubsync.prospect_people p
   SET in_crm = w.match IS NOT NULL,
       matched_contact_id = w.match,
       in_crm_since = CASE WHEN w.match IS NULL THEN NULL
                           WHEN p.in_crm THEN coalesce(p.in_crm_since, now())
                           ELSE now() END,
       updated_at = now()
  FROM wanted w
 WHERE p.id = w.id
   AND (p.in_crm IS DISTINCT FROM (w.match IS NOT NULL) OR p.matched_contact_id IS DISTINCT FROM w.match)
RETURNING w.was_in_crm, p.in_crm
"""

_MARK_ORGANIZATIONS = """
WITH wanted AS MATERIALIZED (
    SELECT o.id, o.in_crm AS was_in_crm,
           (SELECT min(a.id)
              FROM hubsync.accounts a
             WHERE a.domain_root = o.domain_root
               AND a.hubspot_id IS NOT NULL AND a.crm_status <> 'deleted_in_crm'
           ) AS match
      FROM hubsync.prospect_organizations o
     WHERE o.domain_root = ANY(%(keys)s::text[])
)
UPDATE hubsync.prospect_organizations o
   SET in_crm = w.match IS NOT NULL,
       matched_account_id = w.match,
       in_crm_since = CASE WHEN w.match IS NULL THEN NULL
                           WHEN o.in_crm THEN coalesce(o.in_crm_since, now())
                           ELSE now() END,
       updated_at = now()
  FROM wanted w
 WHERE o.id = w.id
   AND (o.in_crm IS DISTINCT FROM (w.match IS NOT NULL) OR o.matched_account_id IS DISTINCT FROM w.match)
RETURNING w.was_in_crm, o.in_crm
"""


def mark_prospects(
    conn: psycopg.Connection[Any], *, emails: Collection[str], domain_roots: Collection[str]
) -> ProspectMarks:
    """Recompute the in-CRM flag of the prospects with these keys (normalized e-mail addresses as
    in ``contact_emails``, root domains as in ``accounts.domain_root``); at most two statements.

    Pass the keys a batch touched, old and new: a contact whose address changed must unmark the
    person of its previous address too. Runs in the caller's transaction.
    """
    people = _mark(conn, _MARK_PEOPLE, emails)
    organizations = _mark(conn, _MARK_ORGANIZATIONS, domain_roots)
    return ProspectMarks(people[0], people[1], organizations[0], organizations[1])


def _mark(conn: psycopg.Connection[Any], statement: str, keys: Collection[str]) -> tuple[int, int]:
    """Run one marking statement; (marked, unmarked)."""
    values = sorted(set(keys))
    if not values:
        return 0, 0
    marked = unmarked = 0
    for was, now in conn.execute(statement, {"keys": text_array(values)}):
        if now and not was:
            marked += 1
        elif was and not now:
            unmarked += 1
    return marked, unmarked


def net_new_people(conn: psycopg.Connection[Any], limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Prospect people not in the CRM, by id: id, e-mail, names, organization id and attributes."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, email_normalized AS email, first_name, last_name, organization_id, attributes
              FROM hubsync.net_new_people ORDER BY id LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"limit": limit, "offset": offset},
        )
        return list(cur.fetchall())


def net_new_organizations(
    conn: psycopg.Connection[Any], limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Prospect organizations not in the CRM, by id: id, name, domain, root domain and attributes."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, name, domain, domain_root, attributes
              FROM hubsync.net_new_organizations ORDER BY id LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"limit": limit, "offset": offset},
        )
        return list(cur.fetchall())
