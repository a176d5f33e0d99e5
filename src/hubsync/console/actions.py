"""What the console changes: retries, "not a duplicate", settings and mappings. Each runs in the
caller's transaction with the same functions and checks as the CLI, so a page and a command have
the same effect (docs/console.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import psycopg

from hubsync.console.queries import MAX_BULK_ROWS, ErrorFilter, error_ids
from hubsync.errors import RejectedRequestError
from hubsync.platform.settings import PlatformSettings, set_setting
from hubsync.platform.store import ActivityRow, add_activities
from hubsync.push.errors import ErrorResolvedError, request_retry
from hubsync.records.kinds import ObjectKind

__all__ = ["RetryOutcome", "dismiss_duplicate", "retry_error", "retry_matching", "update_settings"]


class PairNotOpenError(RejectedRequestError, LookupError):
    """No open potential-duplicate pair of those records (resolved already, or none)."""


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    queued: int
    already_resolved: int


def retry_error(conn: psycopg.Connection[Any], error_id: int) -> RetryOutcome:
    """Queue a manual push of one error's record (``hubsync errors retry``)."""
    try:
        request_retry(conn, error_id)
    except ErrorResolvedError:
        return RetryOutcome(0, 1)
    return RetryOutcome(1, 0)


def retry_matching(conn: psycopg.Connection[Any], flt: ErrorFilter) -> RetryOutcome:
    """Queue a manual push for every unresolved error the filter matches (at most
    :data:`MAX_BULK_ROWS`); resolved ones are left alone."""
    if flt.status == "resolved":
        return RetryOutcome(0, 0)
    unresolved = flt if flt.status != "all" else dataclasses.replace(flt, status="unresolved")
    queued = resolved = 0
    for error_id in error_ids(conn, unresolved, MAX_BULK_ROWS):
        outcome = retry_error(conn, error_id)
        queued += outcome.queued
        resolved += outcome.already_resolved
    return RetryOutcome(queued, resolved)


def dismiss_duplicate(
    conn: psycopg.Connection[Any], object_type: ObjectKind, record_a: int, record_b: int, by: str
) -> list[str]:
    """Mark an open pair "not a duplicate", whatever signals matched it: resolved, never flagged
    again (by any signal), nothing merged; both records' activity logs say who dismissed it.
    Returns the signals resolved."""
    a, b = min(record_a, record_b), max(record_a, record_b)
    signals = [
        str(row[0])
        for row in conn.execute(
            "UPDATE hubsync.potential_duplicates SET resolved_at = now(), resolution = 'not_duplicate',"
            " resolved_by = %s WHERE object_type = %s AND record_a = %s AND record_b = %s"
            " AND resolved_at IS NULL RETURNING signal",
            (by, object_type, a, b),
        ).fetchall()
    ]
    if not signals:
        raise PairNotOpenError(f"no open potential duplicate {object_type} {a} / {b}")
    add_activities(
        conn,
        [
            ActivityRow(
                object_type,
                mine,
                "duplicate_dismissed",
                cause_event=f"console:{by}",
                detail={"duplicate_of": other, "signals": sorted(signals), "by": by},
            )
            for mine, other in ((a, b), (b, a))
        ],
    )
    return sorted(signals)


def update_settings(conn: psycopg.Connection[Any], changes: dict[str, str]) -> PlatformSettings:
    """Store each ``key -> value`` as ``hubsync settings set`` does, all or none (one transaction)."""
    if not changes:
        raise RejectedRequestError("nothing to change")
    with conn.transaction():
        settings: PlatformSettings | None = None
        for key, value in changes.items():
            settings = set_setting(conn, key, value)
    assert settings is not None
    return settings
