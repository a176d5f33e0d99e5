"""What the console's pages read: filtered error log pages, record search, lineage, mapping rows.

Every function takes a connection already working in the chosen portal and reads through indexes
(docs/console.md#performance): nothing here scans a table that grows with the records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from hubsync.errors import RejectedRequestError
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.matching.domains import root_domain
from hubsync.matching.keys import company_name_key, normalize_email, normalize_name
from hubsync.platform.views import find_records
from hubsync.push.errors import ErrorRow, errors_by_id
from hubsync.records.kinds import ObjectKind

StatusFilter = Literal["unresolved", "open", "retrying", "resolved", "all"]
STATUS_FILTERS: tuple[StatusFilter, ...] = ("unresolved", "open", "retrying", "resolved", "all")
SearchField = Literal["email", "name", "domain", "hubspot_id"]
SEARCH_FIELDS: tuple[SearchField, ...] = ("email", "name", "domain", "hubspot_id")
PAGE_SIZE = 100
#: "retry all matching" and the CSV export stop at this many rows
MAX_BULK_ROWS = 10_000


class FilterError(RejectedRequestError, ValueError):
    """A filter or search the console cannot run; the message says what to fix."""


def _printable(text: str, name: str) -> str:
    """``text`` when it holds no control characters (PostgreSQL refuses NUL in text), else a clear error."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise FilterError(f"{name}: control characters are not allowed")
    return text


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(
            f"{name}: expected a date or date and time (YYYY-MM-DD[THH:MM]), got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ErrorFilter:
    """The error log's filters; times without a zone are UTC."""

    status: StatusFilter = "unresolved"
    category: str | None = None
    object_type: ObjectKind | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ErrorFilter:
        status = query.get("status") or "unresolved"
        if status not in STATUS_FILTERS:
            raise FilterError(f"status: one of {', '.join(STATUS_FILTERS)}, got {status!r}")
        object_type = query.get("object") or None
        if object_type not in (None, "contact", "account"):
            raise FilterError(f"object: contact or account, got {object_type!r}")
        category = _printable((query.get("category") or "").strip(), "category") or None
        if category is not None and len(category) > 200:
            raise FilterError("category: at most 200 characters")
        since, until = _time(query.get("since"), "since"), _time(query.get("until"), "until")
        if since and until and since > until:
            raise FilterError("since is after until")
        return cls(status, category, object_type, since, until)  # type: ignore[arg-type]

    def query(self) -> dict[str, str]:
        """The filter as query-string items (none of them personal data)."""
        out: dict[str, str] = {"status": self.status}
        if self.category:
            out["category"] = self.category
        if self.object_type:
            out["object"] = self.object_type
        if self.since:
            out["since"] = self.since.strftime("%Y-%m-%dT%H:%M")
        if self.until:
            out["until"] = self.until.strftime("%Y-%m-%dT%H:%M")
        return out

    def params(self) -> dict[str, Any]:
        statuses: dict[str, list[str] | None] = {
            "unresolved": ["open", "retrying"],
            "open": ["open"],
            "retrying": ["retrying"],
            "resolved": ["resolved"],
            "all": None,
        }
        return {
            "statuses": statuses[self.status],
            "category": self.category,
            "object_type": self.object_type,
            "since": self.since,
            "until": self.until,
        }


_ERROR_WHERE = (
    " WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))"
    " AND (%(category)s::text IS NULL OR category = %(category)s::text)"
    " AND (%(object_type)s::text IS NULL OR object_type = %(object_type)s::text)"
    " AND (%(since)s::timestamptz IS NULL OR last_seen >= %(since)s::timestamptz)"
    " AND (%(until)s::timestamptz IS NULL OR last_seen <= %(until)s::timestamptz)"
)


def error_ids(conn: psycopg.Connection[Any], flt: ErrorFilter, limit: int) -> list[int]:
    rows = conn.execute(
        f"SELECT id FROM hubsync.push_errors{_ERROR_WHERE} ORDER BY last_seen DESC, id DESC LIMIT %(limit)s",
        {**flt.params(), "limit": limit},
    ).fetchall()
    return [int(r[0]) for r in rows]


def errors_page(conn: psycopg.Connection[Any], flt: ErrorFilter, limit: int = PAGE_SIZE) -> list[ErrorRow]:
    """The newest ``limit`` errors the filter matches."""
    return errors_by_id(conn, error_ids(conn, flt, limit))


def error_categories(conn: psycopg.Connection[Any]) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT category FROM hubsync.push_errors ORDER BY 1")]


CSV_COLUMNS = (
    "id",
    "status",
    "object_type",
    "record_id",
    "hubspot_id",
    "operation",
    "http_status",
    "category",
    "sub_category",
    "message",
    "correlation_id",
    "attempts",
    "first_seen",
    "last_seen",
)


def error_csv_rows(conn: psycopg.Connection[Any], flt: ErrorFilter) -> Iterator[list[str]]:
    """The filter's errors as CSV rows (header first), newest first, at most :data:`MAX_BULK_ROWS`."""
    yield list(CSV_COLUMNS)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(CSV_COLUMNS)} FROM hubsync.push_errors{_ERROR_WHERE}"
            " ORDER BY last_seen DESC, id DESC LIMIT %(limit)s",
            {**flt.params(), "limit": MAX_BULK_ROWS},
        )
        for row in cur:
            yield [_cell(v) for v in row]


#: a spreadsheet runs a cell starting with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell. Text that a spreadsheet would run as a formula (HubSpot's messages quote values
    people typed, such as ``=HYPERLINK(...)``) is prefixed with ``'`` so it stays text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ---- records -----------------------------------------------------------------------------------


_KEYED = {
    # field -> (contacts' column, the key of a contact; accounts' column, the key of an account)
    "name": ("name_normalized", normalize_name, "name_normalized", company_name_key),
    "domain": ("company_domain_root", root_domain, "domain_root", root_domain),
}


def _matches(conn: psycopg.Connection[Any], field: str, text: str, limit: int) -> list[tuple[str, int]]:
    """``(kind, id)`` of the records whose ``field`` is ``text``, as duplicate detection keys it."""
    if field == "email":
        if normalize_email(text) is None:
            raise FilterError(f"{text!r} is not an e-mail address")
        return list(find_records(conn, email=text))
    if field == "hubspot_id":
        return list(find_records(conn, hubspot_id=text))
    contact_column, contact_key, account_column, account_key = _KEYED[field]
    if field == "domain" and root_domain(text) is None:
        raise FilterError(f"{text!r} is not a domain")
    rows = conn.execute(
        f"(SELECT 'contact', id FROM hubsync.contacts WHERE {contact_column} = %(contact)s"
        " ORDER BY id LIMIT %(n)s) UNION ALL"
        f" (SELECT 'account', id FROM hubsync.accounts WHERE {account_column} = %(account)s"
        " ORDER BY id LIMIT %(n)s)",
        {"contact": contact_key(text), "account": account_key(text), "n": limit},
    ).fetchall()
    return [(str(kind), int(rid)) for kind, rid in rows]


def search_records(
    conn: psycopg.Connection[Any], field: str, text: str, limit: int = 50
) -> list[dict[str, Any]]:
    """Records whose e-mail (any of a contact's), name, domain or HubSpot id is ``text``, normalized
    the way duplicate detection normalizes it (exact matches through the key indexes), by id."""
    text = text.strip()
    if field not in SEARCH_FIELDS:
        raise FilterError(f"search by one of {', '.join(SEARCH_FIELDS)}")
    if not text or len(text) > 320:
        raise FilterError("give 1-320 characters to search for")
    _printable(text, "search")
    found = _matches(conn, field, text, limit)
    ids = {kind: [rid for k, rid in found if k == kind] for kind in ("contact", "account")}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM ("
            "SELECT 'contact' AS object_type, c.id, c.hubspot_id, c.crm_status, c.creation_source,"
            " c.email AS label, nullif(concat_ws(' ', c.first_name, c.last_name), '') AS detail"
            " FROM hubsync.contacts c WHERE c.id = ANY(%(contacts)s)"
            " UNION ALL SELECT 'account', a.id, a.hubspot_id, a.crm_status, a.creation_source,"
            " a.name, a.domain"
            " FROM hubsync.accounts a WHERE a.id = ANY(%(accounts)s)"
            ") AS found ORDER BY id LIMIT %(limit)s",
            {"contacts": ids["contact"], "accounts": ids["account"], "limit": limit},
        )
        return list(cur.fetchall())


def field_lineage(
    conn: psycopg.Connection[Any], kind: ObjectKind, record_id: int
) -> dict[str, dict[str, Any]]:
    """Per field: the latest activity entry that wrote it (action, rule, before/after, cause, when).
    A field no change has touched since the record was made gets the record's creation entry,
    which lists every field it was made with."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT DISTINCT ON (field) field, occurred_at, action, before, after, rule, cause_source,"
            " cause_event FROM hubsync.activity_log WHERE object_type = %s AND record_id = %s"
            " AND field IS NOT NULL AND action <> 'value_rejected'"
            " ORDER BY field, occurred_at DESC, id DESC",
            (kind, record_id),
        )
        lineage = {str(row["field"]): row for row in cur.fetchall()}
        cur.execute(
            "SELECT occurred_at, action, after, rule, cause_source, cause_event FROM hubsync.activity_log"
            " WHERE object_type = %s AND record_id = %s AND field IS NULL"
            " AND action IN ('created_in_platform', 'created_from_hubspot') ORDER BY occurred_at, id LIMIT 1",
            (kind, record_id),
        )
        created = cur.fetchone()
    if created is not None and isinstance(created["after"], dict):
        for name, value in created["after"].items():
            lineage.setdefault(str(name), {**created, "field": name, "before": None, "after": value})
    return lineage


# ---- field mappings ----------------------------------------------------------------------------

#: what happens to a value of each HubSpot property type that cannot convert (docs/mapping.md)
CONVERSION_NOTES: dict[str, str] = {
    "string": "Text converts, and numbers as their digits; text over 65,536 characters is refused.",
    "number": "Numbers and numeric text (12, -3.5, 1e3) convert; other text ('n/a'), NaN, infinity and"
    " true/false are refused.",
    "bool": "true/false, yes/no, y/n, on/off and 1/0 convert; anything else is refused.",
    "date": "A YYYY-MM-DD date, or a date-time at midnight UTC; another time of day is refused.",
    "datetime": "ISO 8601 with a time zone, a YYYY-MM-DD date (midnight UTC) or Unix milliseconds;"
    " a date-time without a zone is refused.",
    "enumeration": "Only the property's options convert, by value or label, case-insensitive; other"
    " values are refused (a checkbox property takes several, separated by ;).",
}


@dataclass(frozen=True, slots=True)
class MappingRow:
    object_type: ObjectKind
    hubspot_property: str
    platform_field: str
    mode: str
    property_type: str
    field_type: str
    options: tuple[str, ...]
    read_only: bool
    known: bool
    note: str
    rejected: tuple[dict[str, Any], ...]


def mapping_rows(conn: psycopg.Connection[Any], rejected_per_field: int = 3) -> list[MappingRow]:
    """Every mapped field, by object then property, with its HubSpot definition, how values convert,
    and its latest refused values (an autofill or overwrite HubSpot's definition refused)."""
    table = load_mappings(conn)
    out: list[MappingRow] = []
    for kind in ("contact", "account"):
        definitions = effective_definitions(conn, kind)
        for m in sorted(table.for_object(kind), key=lambda m: m.hubspot_property):
            d = definitions.get(m.hubspot_property)
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    "SELECT record_id, occurred_at, after, rule, detail->>'reason' AS reason"
                    " FROM hubsync.activity_log WHERE action = 'value_rejected' AND object_type = %s"
                    " AND field = %s ORDER BY occurred_at DESC LIMIT %s",
                    (kind, m.hubspot_property, rejected_per_field),
                )
                rejected = tuple(cur.fetchall())
            out.append(
                MappingRow(
                    kind,
                    m.hubspot_property,
                    m.platform_field,
                    m.mode.value,
                    d.type if d else "unknown",
                    d.field_type if d else "-",
                    d.options if d else (),
                    d.read_only if d else False,
                    d is not None,
                    CONVERSION_NOTES.get(d.type, "")
                    if d
                    else "No HubSpot definition is cached for this property: its values are refused until"
                    " the worker reads HubSpot's definitions.",
                    rejected,
                )
            )
    return out
