"""The push error log: errors HubSpot returned to a push, in ``hubsync.push_errors`` and on
``hubsync.push.errors``.

* :class:`PushFailure`: one record's failure, built from HubSpot's error body
  (:meth:`PushFailure.from_details`) or from the HubSpot client's exceptions
  (:meth:`PushFailure.from_exception`).
* :func:`record_failure`: one open row per (record, operation, category): a repeat adds its
  attempts to the row and moves ``last_seen``, ``first_seen`` stays; a ``push_failed`` activity row
  is written with it (same transaction, the caller's).
* :func:`push_error_value` / :class:`ErrorTopicPublisher`: the row as a ``PushError`` Avro value,
  published keyed by the record id.
* :func:`list_errors`, :func:`get_error`, :func:`mark_retrying`, :func:`resolve`: what the CLI and
  the push agent do with the rows afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import psycopg
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hubsync.connectors.hubspot.http.errors import (
    HubSpotErrorDetails,
    HubSpotFatalError,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.errors import RejectedRequestError
from hubsync.metrics import PerRegistry
from hubsync.records.kinds import ObjectKind
from hubsync.storage.outbox import OutboxEvent, append_outbox
from hubsync.streams.dlq import error_text
from hubsync.streams.producer import EncodedMessage
from hubsync.streams.publisher import TopicPublisher

Operation = Literal["create", "update", "upsert", "archive", "merge", "read"]
ErrorStatus = Literal["open", "retrying", "resolved"]

OPERATIONS: frozenset[str] = frozenset(get_args(Operation))
STATUSES: frozenset[str] = frozenset(get_args(ErrorStatus))
PUSH_ERROR_SCHEMA = "push_error"
#: categories hubsync uses when HubSpot gave none
CATEGORY_CONNECTION = "CONNECTION_ERROR"
CATEGORY_RATE_LIMITS = "RATE_LIMITS"
CATEGORY_SERVER = "SERVER_ERROR"
CATEGORY_UNKNOWN = "UNKNOWN"
HEADER_ERROR_ID = "hubsync.error.id"
HEADER_CATEGORY = "hubsync.error.category"


def _default_category(status: int | None) -> str:
    if not status:
        return CATEGORY_CONNECTION
    if status == 429:
        return CATEGORY_RATE_LIMITS
    if status >= 500:
        return CATEGORY_SERVER
    return CATEGORY_UNKNOWN


@dataclass(frozen=True)
class PushFailure:
    """One record's failed push. ``attempts``: requests that failed this way (more than one when
    429s or 5xx were retried first); ``payload``: the request body sent for this record."""

    object_type: ObjectKind
    record_id: int
    operation: Operation
    category: str
    message: str
    hubspot_id: str | None = None
    #: the status of the HTTP answer received (207 when this record failed inside a partial batch)
    http_status: int | None = None
    #: this record's own status within a 207 batch answer (None when the answer was the record's)
    record_status: int | None = None
    sub_category: str | None = None
    correlation_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[Mapping[str, Any], ...] = ()
    payload: Mapping[str, Any] | None = None
    attempts: int = 1
    #: the outbox event whose push failed (activity log lineage)
    cause_event: str | None = None

    def __post_init__(self) -> None:
        if self.object_type not in ("contact", "account"):
            raise ValueError(f"object_type must be contact or account, got {self.object_type!r}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not self.category:
            raise ValueError("category must not be empty")

    @classmethod
    def from_details(
        cls,
        details: HubSpotErrorDetails,
        *,
        object_type: ObjectKind,
        record_id: int,
        operation: Operation,
        hubspot_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        attempts: int = 1,
        cause_event: str | None = None,
    ) -> PushFailure:
        """From HubSpot's parsed error body (for a partial batch failure: that record's error)."""
        status = details.status or None
        return cls(
            object_type=object_type,
            record_id=record_id,
            operation=operation,
            category=details.category or _default_category(status),
            message=details.message or details.describe(),
            hubspot_id=hubspot_id,
            http_status=details.received_status or None,
            record_status=status if details.http_status is not None else None,
            sub_category=details.sub_category,
            correlation_id=details.correlation_id,
            context=dict(details.context),
            errors=tuple(details.errors),
            payload=payload,
            attempts=attempts,
            cause_event=cause_event,
        )

    @classmethod
    def from_exception(
        cls,
        error: BaseException,
        *,
        object_type: ObjectKind,
        record_id: int,
        operation: Operation,
        hubspot_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        attempts: int = 1,
        cause_event: str | None = None,
    ) -> PushFailure:
        """From the HubSpot client's exceptions (their ``details``; retries exhausted carry their
        attempts); any other exception becomes a ``CONNECTION_ERROR`` with its (redacted) text."""
        details: HubSpotErrorDetails | None = None
        if isinstance(error, HubSpotRetriesExhaustedError):
            details, attempts = error.details, max(attempts, error.attempts)
        elif isinstance(error, HubSpotRecordError | HubSpotFatalError):
            details = error.details
        if details is not None:
            failure = cls.from_details(
                details,
                object_type=object_type,
                record_id=record_id,
                operation=operation,
                hubspot_id=hubspot_id,
                payload=payload,
                attempts=attempts,
                cause_event=cause_event,
            )
            if details.message is None:  # no body: the exception's own text says more
                return replace(failure, message=error_text(error))
            return failure
        return cls(
            object_type=object_type,
            record_id=record_id,
            operation=operation,
            category=CATEGORY_CONNECTION,
            message=error_text(error),
            hubspot_id=hubspot_id,
            payload=payload,
            attempts=attempts,
            cause_event=cause_event,
        )


@dataclass(frozen=True)
class ErrorRow:
    """A row of ``hubsync.push_errors``."""

    id: int
    object_type: ObjectKind
    record_id: int
    hubspot_id: str | None
    operation: Operation
    http_status: int | None
    category: str
    sub_category: str | None
    message: str
    correlation_id: str | None
    context: Mapping[str, Any]
    errors: Sequence[Mapping[str, Any]]
    payload: Any
    attempts: int
    status: ErrorStatus
    first_seen: datetime
    last_seen: datetime
    #: the record's own status within a 207 batch answer
    record_status: int | None = None
    #: the HubSpot portal the push went to
    portal_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (times in ISO 8601), for ``--json`` output."""
        return {
            "id": self.id,
            "object_type": self.object_type,
            "record_id": self.record_id,
            "hubspot_id": self.hubspot_id,
            "operation": self.operation,
            "http_status": self.http_status,
            "record_status": self.record_status,
            "category": self.category,
            "sub_category": self.sub_category,
            "message": self.message,
            "correlation_id": self.correlation_id,
            "context": dict(self.context),
            "errors": [dict(e) for e in self.errors],
            "payload": self.payload,
            "attempts": self.attempts,
            "status": self.status,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "portal_id": self.portal_id,
        }


# ---- PostgreSQL ----------------------------------------------------------------------------------

_COLUMNS = (
    "id, object_type, record_id, hubspot_id, operation, http_status, record_status, category, sub_category,"
    " message, correlation_id, context, errors, payload, attempts, status, first_seen, last_seen, portal_id"
)

_UPSERT = """
INSERT INTO hubsync.push_errors AS e (object_type, record_id, hubspot_id, operation, http_status,
    record_status, category, sub_category, message, correlation_id, context, errors, payload, attempts)
VALUES (%(object_type)s, %(record_id)s, %(hubspot_id)s, %(operation)s, %(http_status)s, %(record_status)s,
    %(category)s, %(sub_category)s, %(message)s, %(correlation_id)s, %(context)s, %(errors)s, %(payload)s,
    %(attempts)s)
ON CONFLICT (object_type, record_id, operation, category) WHERE status <> 'resolved' DO UPDATE SET
    hubspot_id = coalesce(EXCLUDED.hubspot_id, e.hubspot_id),
    http_status = EXCLUDED.http_status,
    record_status = EXCLUDED.record_status,
    sub_category = EXCLUDED.sub_category,
    message = EXCLUDED.message,
    correlation_id = EXCLUDED.correlation_id,
    context = EXCLUDED.context,
    errors = EXCLUDED.errors,
    payload = EXCLUDED.payload,
    attempts = e.attempts + EXCLUDED.attempts,
    status = 'open',
    last_seen = now()
RETURNING e.id, e.attempts
"""

_ACTIVITY = """
INSERT INTO hubsync.activity_log (object_type, record_id, action, cause_source, cause_event, detail)
VALUES (%s, %s, 'push_failed', 'PUSH', %s, %s)
"""


def _jsonable(value: Any) -> Any:
    """``value`` with mappings and tuples turned into plain JSON types."""
    return json.loads(json.dumps(value, default=str))


def record_failure(conn: psycopg.Connection[Any], failure: PushFailure) -> int:
    """Upsert the error log row of ``failure`` and log ``push_failed``; returns the row id. Runs in
    the caller's transaction."""
    params = {
        "object_type": failure.object_type,
        "record_id": failure.record_id,
        "hubspot_id": failure.hubspot_id,
        "operation": failure.operation,
        "http_status": failure.http_status,
        "record_status": failure.record_status,
        "category": failure.category,
        "sub_category": failure.sub_category,
        "message": failure.message,
        "correlation_id": failure.correlation_id,
        "context": Jsonb(_jsonable(failure.context)),
        "errors": Jsonb(_jsonable(list(failure.errors))),
        "payload": None if failure.payload is None else Jsonb(_jsonable(failure.payload)),
        "attempts": failure.attempts,
    }
    row = conn.execute(_UPSERT, params).fetchone()
    assert row is not None
    error_id, attempts = int(row[0]), int(row[1])
    detail = {
        "error_id": error_id,
        "operation": failure.operation,
        "http_status": failure.http_status,
        "record_status": failure.record_status,
        "category": failure.category,
        "message": failure.message,
        "correlation_id": failure.correlation_id,
        "attempts": attempts,
    }
    conn.execute(_ACTIVITY, (failure.object_type, failure.record_id, failure.cause_event, Jsonb(detail)))
    return error_id


def _row(data: Mapping[str, Any]) -> ErrorRow:
    return ErrorRow(**data)


def get_error(conn: psycopg.Connection[Any], error_id: int) -> ErrorRow | None:
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"SELECT {_COLUMNS} FROM hubsync.push_errors WHERE id = %s", (error_id,)
        ).fetchone()
    return None if found is None else _row(found)


def list_errors(
    conn: psycopg.Connection[Any],
    status: ErrorStatus | None = "open",
    limit: int = 50,
    *,
    record_id: int | None = None,
) -> list[ErrorRow]:
    """Rows with ``status`` (None: every status), newest ``last_seen`` first."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM hubsync.push_errors"
            " WHERE (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(record)s::bigint IS NULL OR record_id = %(record)s)"
            " ORDER BY last_seen DESC, id DESC LIMIT %(limit)s",
            {"status": status, "record": record_id, "limit": limit},
        ).fetchall()
    return [_row(r) for r in rows]


def errors_by_id(conn: psycopg.Connection[Any], error_ids: Sequence[int]) -> list[ErrorRow]:
    """The rows with these ids, in the order given (ids without a row are left out)."""
    if not error_ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM hubsync.push_errors WHERE id = ANY(%s)", (list(error_ids),)
        ).fetchall()
    by_id = {r["id"]: _row(r) for r in rows}
    return [by_id[i] for i in error_ids if i in by_id]


def mark_retrying(conn: psycopg.Connection[Any], error_id: int) -> ErrorRow | None:
    """Set an open (or already retrying) row to ``retrying``; None when there is no such row or it
    is resolved."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"UPDATE hubsync.push_errors SET status = 'retrying' WHERE id = %s AND status <> 'resolved'"
            f" RETURNING {_COLUMNS}",
            (error_id,),
        ).fetchone()
    return None if found is None else _row(found)


def resolve(conn: psycopg.Connection[Any], record_id: int, operation: Operation | None = None) -> int:
    """A later push of ``record_id`` succeeded: resolve its unresolved rows (of ``operation``, or
    all); returns how many."""
    cur = conn.execute(
        "UPDATE hubsync.push_errors SET status = 'resolved', last_seen = now()"
        " WHERE record_id = %s AND status <> 'resolved' AND (%s::text IS NULL OR operation = %s)",
        (record_id, operation, operation),
    )
    return cur.rowcount


# ---- Avro and Kafka ------------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [item if isinstance(item, str) else json.dumps(item, default=str) for item in items]


def _context(value: Any) -> dict[str, list[str]]:
    """HubSpot's ``context`` (name -> list of strings) as the schema's map of string arrays."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _strings(v) for k, v in value.items()}


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _detail(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "message": str(item.get("message") or ""),
        "code": _opt_str(item.get("code")),
        "sub_category": _opt_str(item.get("subCategory", item.get("sub_category"))),
        "location": _opt_str(item.get("in", item.get("location"))),
        "context": _context(item.get("context")),
    }


def push_error_value(row: ErrorRow) -> dict[str, Any]:
    """The ``PushError`` Avro value of an error log row (times as datetimes, as fastavro takes them)."""
    return {
        "error_id": row.id,
        "object_type": row.object_type.upper(),
        "record_id": row.record_id,
        "hubspot_id": row.hubspot_id,
        "operation": row.operation.upper(),
        "http_status": row.http_status,
        "record_status": row.record_status,
        "category": row.category,
        "sub_category": row.sub_category,
        "message": row.message,
        "correlation_id": row.correlation_id,
        "context": _context(row.context),
        "errors": [_detail(e) for e in row.errors if isinstance(e, Mapping)],
        "payload_json": None
        if row.payload is None
        else json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
        "attempts": row.attempts,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "portal_id": row.portal_id,
    }


@dataclass(frozen=True)
class PushErrorMetrics:
    errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> PushErrorMetrics:
        return cls(
            errors=Counter(
                "hubsync_push_errors",
                "Push errors published to the error topic, by object type, operation and HubSpot category",
                ["object_type", "operation", "category"],
                registry=registry,
            )
        )


#: the push error metrics of a registry, created once
push_error_metrics = PerRegistry(PushErrorMetrics.create)


class ErrorTopicPublisher(TopicPublisher[ErrorRow]):
    """Publishes error log rows to ``hubsync.push.errors`` (key: the record id) and waits for the
    acknowledgements."""

    ROLE = "push_errors"
    SCHEMA = PUSH_ERROR_SCHEMA
    METRICS = push_error_metrics

    def encode(self, row: ErrorRow) -> EncodedMessage:
        value = self.codec.encode(self.topic, self.schema, push_error_value(row))
        headers = ((HEADER_ERROR_ID, str(row.id).encode()), (HEADER_CATEGORY, row.category.encode()))
        return EncodedMessage(str(row.record_id).encode(), value, headers)

    def count(self, rows: Sequence[ErrorRow]) -> None:
        for row in rows:
            self.metrics.errors.labels(
                object_type=row.object_type, operation=row.operation, category=row.category
            ).inc()


# ---- manual retry --------------------------------------------------------------------------------


class ErrorNotFoundError(RejectedRequestError, LookupError):
    """No push error with that id."""


class ErrorResolvedError(RejectedRequestError, ValueError):
    """The push error is resolved already: nothing to retry."""


def request_retry(
    conn: psycopg.Connection[Any], error_id: int, *, now: datetime | None = None
) -> tuple[ErrorRow, uuid.UUID]:
    """Mark the error ``retrying`` and append a manual ``PUSH_REQUESTED`` outbox event for its
    record, in the caller's transaction, so the push agent sends the record again (a manual push
    overrides the push settings). Returns the row and the outbox event id."""
    row = mark_retrying(conn, error_id)
    if row is None:
        if get_error(conn, error_id) is None:
            raise ErrorNotFoundError(f"no push error with id {error_id}")
        raise ErrorResolvedError(f"push error {error_id} is resolved already; nothing to retry")
    event = OutboxEvent(
        object_type="CONTACT" if row.object_type == "contact" else "ACCOUNT",
        record_id=row.record_id,
        change_type="PUSH_REQUESTED",
        occurred_at=now or datetime.now(UTC),
        hubspot_id=row.hubspot_id,
        manual=True,
        cause_event=f"push_error:{row.id}",
    )
    (event_id,) = append_outbox(conn, [event])
    return row, event_id
