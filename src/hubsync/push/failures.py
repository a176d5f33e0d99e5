"""The push agent's failure log: the error table and topic (:mod:`hubsync.push.errors`) for a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from hubsync.matching.duplicates import flag_duplicates
from hubsync.push.errors import (
    ErrorRow,
    ErrorTopicPublisher,
    Operation,
    PushFailure,
    get_error,
    record_failure,
    resolve,
)
from hubsync.push.plan import Planned

if TYPE_CHECKING:
    from hubsync.push.agent import Failed

#: HubSpot's answer to a contact create whose e-mail another HubSpot contact holds
CONFLICT = 409


def operation_of(planned: Planned) -> Operation:
    """Creates go through batch upsert on ``hubsync_record_id``."""
    return "upsert" if planned.op == "create" else "update"


class ErrorLog:
    """Every failed record becomes (or bumps) an open error-log row and a ``hubsync.push.errors``
    message; a contact HubSpot refused with 409 (its e-mail belongs to another HubSpot record) is
    also flagged as a potential duplicate of the mirrored record, and nothing is overwritten."""

    def __init__(self, topic: ErrorTopicPublisher) -> None:
        self.topic = topic

    def record(self, conn: psycopg.Connection[Any], failed: Sequence[Failed]) -> list[ErrorRow]:
        rows: list[ErrorRow] = []
        conflicts: list[int] = []
        for item in failed:
            planned, failure = item.planned, item.failure
            error_id = record_failure(
                conn,
                PushFailure.from_details(
                    failure.details,
                    object_type=planned.kind,
                    record_id=planned.record_id,
                    operation=operation_of(planned),
                    hubspot_id=planned.hubspot_id,
                    payload=planned.hubspot_input(),
                    attempts=failure.attempts,
                    cause_event=planned.cause_events[-1] if planned.cause_events else None,
                ),
            )
            row = get_error(conn, error_id)
            if row is not None:
                rows.append(row)
            if planned.kind == "contact" and failure.status == CONFLICT:
                conflicts.append(planned.record_id)
        if conflicts:
            flag_duplicates(conn, "contact", conflicts, cause_source="push")
        return rows

    def resolve(self, conn: psycopg.Connection[Any], done: Sequence[Planned]) -> None:
        for planned in done:
            resolve(conn, planned.record_id, operation_of(planned))

    async def publish(self, rows: Sequence[Any]) -> None:
        await self.topic.publish(rows)
