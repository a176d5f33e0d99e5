"""Read field mappings and matched prospects from PostgreSQL for :func:`~hubsync.mapping.rules.decide`.

Synchronous psycopg 3, like the ingest transaction that calls them, and set-based: one query for
the mappings, one for all the people and one for all the organizations of a batch of records.
"""

from __future__ import annotations

from collections import abc
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row

from hubsync.mapping.rules import Mapping, prospect_values
from hubsync.records.kinds import ObjectKind
from hubsync.storage.arrays import text_array
from hubsync.storage.defaults import MappingMode

_ACTIVE_MODES = frozenset({MappingMode.AUTOFILL, MappingMode.OVERWRITE})


@dataclass(frozen=True, slots=True)
class MappingTable:
    """Every field mapping, ordered by object type then HubSpot property."""

    mappings: tuple[Mapping, ...] = ()

    def for_object(self, object_type: ObjectKind) -> tuple[Mapping, ...]:
        """All mappings of ``object_type`` (every mode)."""
        return tuple(m for m in self.mappings if m.object_type == object_type)

    def active(self, object_type: ObjectKind) -> tuple[Mapping, ...]:
        """The mappings of ``object_type`` that write to HubSpot on pull (autofill, overwrite)."""
        return tuple(m for m in self.for_object(object_type) if m.mode in _ACTIVE_MODES)


def load_mappings(conn: psycopg.Connection[Any]) -> MappingTable:
    """All rows of ``hubsync.field_mappings``."""
    rows = conn.execute(
        "SELECT object_type, hubspot_property, platform_field, mode FROM hubsync.field_mappings"
        " ORDER BY object_type, hubspot_property"
    ).fetchall()
    return MappingTable(
        tuple(Mapping(cast(ObjectKind, ot), prop, pf, MappingMode(mode)) for ot, prop, pf, mode in rows)
    )


@dataclass(frozen=True, slots=True)
class ProspectIndex:
    """Matched prospects' values by HubSpot property (:func:`~hubsync.mapping.rules.prospect_values`):
    people by normalized e-mail, organizations by root domain."""

    people: abc.Mapping[str, abc.Mapping[str, object]] = field(default_factory=dict)
    organizations: abc.Mapping[str, abc.Mapping[str, object]] = field(default_factory=dict)

    def person(self, email_normalized: str | None) -> abc.Mapping[str, object] | None:
        """The person with this normalized e-mail (:func:`hubsync.matching.normalize_email`)."""
        return None if email_normalized is None else self.people.get(email_normalized)

    def organization(self, domain_root: str | None) -> abc.Mapping[str, object] | None:
        """The organization with this root domain (:func:`hubsync.matching.root_domain`)."""
        return None if domain_root is None else self.organizations.get(domain_root)


def load_prospects(
    conn: psycopg.Connection[Any], *, emails: abc.Collection[str], domain_roots: abc.Collection[str]
) -> ProspectIndex:
    """The prospects matching any of ``emails`` (already normalized, as ``email_normalized``
    holds them) and ``domain_roots``: one query per kind, none for an empty collection."""
    people: dict[str, abc.Mapping[str, object]] = {}
    organizations: dict[str, abc.Mapping[str, object]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        if emails:
            cur.execute(
                "SELECT email_normalized, first_name, last_name, attributes FROM hubsync.prospect_people"
                " WHERE email_normalized = ANY(%s::text[])",
                (text_array(sorted(set(emails))),),
            )
            for row in cur.fetchall():
                people[row["email_normalized"]] = prospect_values("people", row)
        if domain_roots:
            cur.execute(
                "SELECT domain_root, name, domain, attributes FROM hubsync.prospect_organizations"
                " WHERE domain_root = ANY(%s::text[])",
                (text_array(sorted(set(domain_roots))),),
            )
            for row in cur.fetchall():
                organizations[row["domain_root"]] = prospect_values("organizations", row)
    return ProspectIndex(people, organizations)
