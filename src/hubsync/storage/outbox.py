"""The transactional outbox: platform-side changes to push, written in the same transaction as
the change itself and relayed to ``platform.contacts.changes`` / ``platform.accounts.changes``.

Rows follow the Debezium outbox event router convention (SPEC section 2): ``aggregatetype``
``contact``/``account`` (the topic), ``aggregateid`` the platform record id (the message key),
``type`` the change type, ``payload`` a JSON object holding the fields of the
``PlatformChangeEvent`` Avro record except ``event_id``, which is the row's ``id``. Timestamps in
the payload are epoch milliseconds (Avro's ``timestamp-millis``), so :func:`payload_to_avro` can
build the Avro value from a row without any conversion that could differ between writers.
"""

from __future__ import annotations

import json
import uuid
from collections import abc
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import psycopg

from hubsync.errors import SkippableRecordError
from hubsync.storage.arrays import text_array

OutboxObjectType = Literal["CONTACT", "ACCOUNT"]
ChangeType = Literal["CREATED", "UPDATED", "DELETED", "MERGED", "PUSH_REQUESTED", "ENRICHED", "MAPPED_VALUES"]
FieldRule = Literal["platform", "autofill", "overwrite", "manual"]

_OBJECT_TYPES: frozenset[str] = frozenset(get_args(OutboxObjectType))
_CHANGE_TYPES: frozenset[str] = frozenset(get_args(ChangeType))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class InvalidOutboxPayloadError(SkippableRecordError):
    """An outbox payload that does not make a ``PlatformChangeEvent`` (dead-letter that row)."""


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got a naive one")


@dataclass(frozen=True)
class OutboxEvent:
    """One platform-side change: the fields of ``PlatformChangeEvent`` except ``event_id``.

    ``changed_fields``: HubSpot property -> value to write (wire strings, ``None`` clears);
    ``field_rules``: HubSpot property -> the rule that produced the value; ``field_timestamps``:
    HubSpot property -> the platform's edit time (later change wins); ``cause_event``: the event
    that caused the change, for lineage.
    """

    object_type: OutboxObjectType
    record_id: int
    change_type: ChangeType
    occurred_at: datetime
    hubspot_id: str | None = None
    changed_fields: abc.Mapping[str, str | None] = field(default_factory=dict)
    field_rules: abc.Mapping[str, FieldRule] = field(default_factory=dict)
    field_timestamps: abc.Mapping[str, datetime] = field(default_factory=dict)
    manual: bool = False
    merged_into_id: int | None = None
    cause_event: str | None = None

    def __post_init__(self) -> None:
        if self.object_type not in _OBJECT_TYPES:
            raise ValueError(f"object_type must be CONTACT or ACCOUNT, got {self.object_type!r}")
        if self.change_type not in _CHANGE_TYPES:
            raise ValueError(f"unknown change_type {self.change_type!r}")
        _aware("occurred_at", self.occurred_at)
        for name, moment in self.field_timestamps.items():
            _aware(f"field_timestamps[{name!r}]", moment)

    @property
    def aggregatetype(self) -> str:
        """``contact`` or ``account``: the outbox row's ``aggregatetype`` (selects the topic)."""
        return self.object_type.lower()

    def to_payload(self) -> dict[str, Any]:
        """The JSON payload of the outbox row (timestamps as epoch milliseconds)."""
        return {
            "object_type": self.object_type,
            "record_id": self.record_id,
            "change_type": self.change_type,
            "occurred_at": epoch_ms(self.occurred_at),
            "hubspot_id": self.hubspot_id,
            "changed_fields": dict(self.changed_fields),
            "field_rules": dict(self.field_rules),
            "field_timestamps": {k: epoch_ms(v) for k, v in self.field_timestamps.items()},
            "manual": self.manual,
            "merged_into_id": self.merged_into_id,
            "cause_event": self.cause_event,
        }


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    _aware("timestamp", moment)
    return (moment - _EPOCH) // _MS


def _payload_json(event: OutboxEvent) -> str:
    return json.dumps(event.to_payload(), separators=(",", ":"), ensure_ascii=False)


def append_outbox(conn: psycopg.Connection[Any], events: abc.Sequence[OutboxEvent]) -> list[uuid.UUID]:
    """Insert ``events`` into ``hubsync.outbox`` in one statement, in order (``seq`` follows the
    list), within the caller's transaction; returns their ids (the Avro ``event_id``), in order.
    The ids are made here (UUID4) rather than returned by the database, so their order is certain.
    """
    if not events:
        return []
    ids = [uuid.uuid4() for _ in events]
    conn.execute(
        "INSERT INTO hubsync.outbox (id, aggregatetype, aggregateid, type, payload)"
        " SELECT t.id, t.aggregatetype, t.aggregateid, t.type, t.payload::jsonb"
        " FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[])"
        " WITH ORDINALITY AS t(id, aggregatetype, aggregateid, type, payload, ord)"
        " ORDER BY t.ord",
        (
            text_array([str(i) for i in ids]),
            text_array([e.aggregatetype for e in events]),
            text_array([str(e.record_id) for e in events]),
            text_array([e.change_type for e in events]),
            text_array([_payload_json(e) for e in events]),
        ),
    )
    return ids


# ---- payload -> Avro value -----------------------------------------------------------------------


def payload_to_avro(
    outbox_id: uuid.UUID, payload: abc.Mapping[str, Any], portal_id: int | None = None
) -> dict[str, Any]:
    """The ``PlatformChangeEvent`` Avro value of an outbox row of ``portal_id``. Optional fields
    missing from the payload take the schema's defaults; a payload of the wrong shape raises
    :class:`InvalidOutboxPayloadError` (naming the field) rather than failing in the encoder."""
    return {
        "event_id": str(outbox_id),
        "object_type": _choice(payload, "object_type", _OBJECT_TYPES),
        "record_id": _int(payload, "record_id"),
        "change_type": _choice(payload, "change_type", _CHANGE_TYPES),
        "occurred_at": _int(payload, "occurred_at"),
        "hubspot_id": _optional_str(payload, "hubspot_id"),
        "changed_fields": _str_map(payload, "changed_fields", nullable=True),
        "field_rules": _str_map(payload, "field_rules", nullable=False),
        "field_timestamps": _int_map(payload, "field_timestamps"),
        "manual": _bool(payload, "manual"),
        "merged_into_id": _optional_int(payload, "merged_into_id"),
        "cause_event": _optional_str(payload, "cause_event"),
        "portal_id": portal_id,
    }


def _bad(name: str, expected: str, value: object) -> InvalidOutboxPayloadError:
    return InvalidOutboxPayloadError(
        f"outbox payload field {name!r}: expected {expected}, got {value!r:.100}"
    )


def _choice(payload: abc.Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise _bad(name, "one of " + ", ".join(sorted(allowed)), value)
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(payload: abc.Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(name, "an integer", value)
    return value


def _optional_int(payload: abc.Mapping[str, Any], name: str) -> int | None:
    return None if payload.get(name) is None else _int(payload, name)


def _optional_str(payload: abc.Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(name, "a string or null", value)
    return value


def _bool(payload: abc.Mapping[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name, "a boolean", value)
    return value


def _map(payload: abc.Mapping[str, Any], name: str) -> abc.Mapping[Any, Any]:
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, abc.Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(name, "an object", value)
    return value


def _str_map(payload: abc.Mapping[str, Any], name: str, *, nullable: bool) -> dict[str, str | None]:
    value = _map(payload, name)
    for item in value.values():
        if not (isinstance(item, str) or (nullable and item is None)):
            raise _bad(name, "string values" + (" or null" if nullable else ""), value)
    return dict(value)


def _int_map(payload: abc.Mapping[str, Any], name: str) -> dict[str, int]:
    value = _map(payload, name)
    if not all(_is_int(item) for item in value.values()):
        raise _bad(name, "integer values (epoch milliseconds)", value)
    return dict(value)
