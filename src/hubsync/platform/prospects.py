"""The platform's prospect database, loaded from a CSV file (``hubsync prospects import``), and
one prospect's view (``hubsync prospects show``).

A CSV row is a person, an organization, or a person at an organization:

- ``email`` makes it a person (matched to the CRM by the normalized address), with ``first_name``,
  ``last_name``;
- ``domain`` (a domain, a URL or an address) makes it, or its person's, organization (matched by
  root domain), named by ``organization`` (or ``name``);
- any other column is an enrichment value by HubSpot property name: a person's (``jobtitle``,
  ``phone`` ...), or with an ``organization.`` prefix the organization's (``organization.industry``).

Every row is checked before anything is written, and the whole file is loaded in one transaction:
a file with a bad row loads nothing, and the error names each bad row. Loading again updates the
same people and organizations (by address and root domain). The in-CRM flags are recomputed for
every key the file named.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hubsync.matching.domains import root_domain
from hubsync.matching.keys import normalize_email
from hubsync.matching.prospects import mark_prospects
from hubsync.platform.errors import InvalidProspectFile, ProspectNotFound

PERSON_COLUMNS = frozenset({"email", "first_name", "last_name"})
ORGANIZATION_COLUMNS = frozenset({"domain", "organization", "name"})
ORGANIZATION_PREFIX = "organization."
#: a row may hold at most this many characters per value (a name, an enrichment value)
MAX_VALUE_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class ProspectRow:
    line: int
    email: str | None
    first_name: str | None
    last_name: str | None
    organization_name: str | None
    domain: str | None
    domain_root: str | None
    person_attributes: Mapping[str, str] = field(default_factory=dict)
    organization_attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    people: int
    organizations: int
    people_in_crm: int
    organizations_in_crm: int

    def to_json(self) -> dict[str, int]:
        return {
            "people": self.people,
            "organizations": self.organizations,
            "people_in_crm": self.people_in_crm,
            "organizations_in_crm": self.organizations_in_crm,
        }


def _clean(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def parse_rows(lines: Iterable[str]) -> list[ProspectRow]:
    """The rows of a prospect CSV file; :class:`InvalidProspectFile` names every bad one."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise InvalidProspectFile(["the file is empty: the first line must name the columns"])
    if not ({"email", "domain"} & set(header)):
        raise InvalidProspectFile(["the header names neither an email nor a domain column"])
    problems: list[str] = []
    rows: list[ProspectRow] = []
    seen_emails: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        values = {(k or "").strip(): _clean(v) for k, v in raw.items() if k is not None}
        if None in raw:
            problems.append(f"line {line}: more values than columns")
            continue
        row, why = _row(line, values)
        if why:
            problems.extend(f"line {line}: {w}" for w in why)
            continue
        assert row is not None
        if row.email is not None:
            if row.email in seen_emails:
                problems.append(f"line {line}: {row.email} is also on line {seen_emails[row.email]}")
                continue
            seen_emails[row.email] = line
        rows.append(row)
    if problems:
        raise InvalidProspectFile(problems)
    return rows


def _row(line: int, values: Mapping[str, str | None]) -> tuple[ProspectRow | None, list[str]]:
    why: list[str] = []
    for name, value in values.items():
        if value is not None and len(value) > MAX_VALUE_CHARS:
            why.append(f"{name} is longer than {MAX_VALUE_CHARS} characters")
    email = None
    if values.get("email") is not None:
        email = normalize_email(values["email"])
        if email is None:
            why.append(f"email {values['email']!r} is not an e-mail address")
    domain = values.get("domain")
    domain_root = root_domain(domain) if domain is not None else None
    if domain is not None and domain_root is None:
        why.append(f"domain {domain!r} names no registrable domain")
    if values.get("email") is None and domain is None:
        why.append("neither an email nor a domain")
    if domain is None and (values.get("organization") or values.get("name")):
        why.append("an organization needs a domain")
    if why:
        return None, why
    people = {
        k: v
        for k, v in values.items()
        if v is not None
        and k not in PERSON_COLUMNS | ORGANIZATION_COLUMNS
        and not k.startswith(ORGANIZATION_PREFIX)
    }
    orgs = {
        k.removeprefix(ORGANIZATION_PREFIX): v
        for k, v in values.items()
        if v is not None and k.startswith(ORGANIZATION_PREFIX)
    }
    return (
        ProspectRow(
            line=line,
            email=email,
            first_name=values.get("first_name"),
            last_name=values.get("last_name"),
            organization_name=values.get("organization") or values.get("name"),
            domain=domain,
            domain_root=domain_root,
            person_attributes=people,
            organization_attributes=orgs,
        ),
        [],
    )


_UPSERT_ORGANIZATION = """
INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)
VALUES (%(name)s, %(domain)s, %(domain_root)s, %(attributes)s)
ON CONFLICT (portal_id, domain_root) DO UPDATE SET
    name = coalesce(NULLIF(EXCLUDED.name, EXCLUDED.domain_root), hubsync.prospect_organizations.name),
    domain = EXCLUDED.domain,
    attributes = hubsync.prospect_organizations.attributes || EXCLUDED.attributes,
    updated_at = now()
RETURNING id
"""

_UPSERT_PERSON = """
INSERT INTO hubsync.prospect_people (email_normalized, first_name, last_name, organization_id, attributes)
VALUES (%(email)s, %(first_name)s, %(last_name)s, %(organization_id)s, %(attributes)s)
ON CONFLICT (portal_id, email_normalized) DO UPDATE SET
    first_name = coalesce(EXCLUDED.first_name, hubsync.prospect_people.first_name),
    last_name = coalesce(EXCLUDED.last_name, hubsync.prospect_people.last_name),
    organization_id = coalesce(EXCLUDED.organization_id, hubsync.prospect_people.organization_id),
    attributes = hubsync.prospect_people.attributes || EXCLUDED.attributes,
    updated_at = now()
"""


def load_prospects(conn: psycopg.Connection[Any], rows: Sequence[ProspectRow]) -> ImportReport:
    """Upsert ``rows`` (in the caller's transaction) and recompute their in-CRM flags."""
    organization_ids: dict[str, int] = {}
    for row in rows:
        if row.domain_root is None:
            continue
        found = conn.execute(
            _UPSERT_ORGANIZATION,
            {
                "name": row.organization_name or row.domain_root,
                "domain": row.domain,
                "domain_root": row.domain_root,
                "attributes": Jsonb(dict(row.organization_attributes)),
            },
        ).fetchone()
        assert found is not None
        organization_ids[row.domain_root] = int(found[0])
    people = [row for row in rows if row.email is not None]
    for row in people:
        conn.execute(
            _UPSERT_PERSON,
            {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "organization_id": organization_ids.get(row.domain_root or ""),
                "attributes": Jsonb(dict(row.person_attributes)),
            },
        )
    emails = [row.email for row in people if row.email is not None]
    mark_prospects(conn, emails=emails, domain_roots=list(organization_ids))
    in_crm = conn.execute(
        "SELECT (SELECT count(*) FROM hubsync.prospect_people WHERE in_crm AND email_normalized = ANY(%s)),"
        " (SELECT count(*) FROM hubsync.prospect_organizations WHERE in_crm AND domain_root = ANY(%s))",
        (emails, list(organization_ids)),
    ).fetchone()
    assert in_crm is not None
    return ImportReport(len(people), len(organization_ids), int(in_crm[0]), int(in_crm[1]))


def prospect_view(
    conn: psycopg.Connection[Any], prospect_id: int, *, organization: bool = False
) -> dict[str, Any]:
    """A prospect person (or organization) with whether it is in the CRM, and as which record."""
    with conn.cursor(row_factory=dict_row) as cur:
        if organization:
            cur.execute(
                "SELECT o.id, o.name, o.domain, o.domain_root, o.attributes, o.in_crm, o.in_crm_since,"
                " a.id AS record_id, a.hubspot_id, a.crm_status, a.name AS record_name"
                " FROM hubsync.prospect_organizations o"
                " LEFT JOIN hubsync.accounts a ON a.id = o.matched_account_id"
                " WHERE o.id = %s",
                (prospect_id,),
            )
        else:
            cur.execute(
                "SELECT p.id, p.email_normalized AS email, p.first_name, p.last_name, p.organization_id,"
                " p.attributes, p.in_crm, p.in_crm_since,"
                " c.id AS record_id, c.hubspot_id, c.crm_status, c.email AS record_email"
                " FROM hubsync.prospect_people p LEFT JOIN hubsync.contacts c ON c.id = p.matched_contact_id"
                " WHERE p.id = %s",
                (prospect_id,),
            )
        row = cur.fetchone()
    if row is None:
        raise ProspectNotFound(prospect_id, organization=organization)
    view = dict(row)
    record_keys = ("record_id", "hubspot_id", "crm_status", "record_name", "record_email")
    record = {k: view.pop(k) for k in record_keys if k in view}
    view["kind"] = "organization" if organization else "person"
    view["crm_record"] = (
        {"object_type": "account" if organization else "contact", **record} if record["record_id"] else None
    )
    return view
