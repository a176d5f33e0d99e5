"""A webhook request body -> the events to publish, already Avro-encoded (pure, no I/O).

The batch as a whole must be a JSON array of at most ``max_events`` items, or the request is
refused (:class:`BadBatchError`, answered 400). Single items are judged one by one: an unknown
subscription type or a malformed event is skipped and counted, and the rest of the batch is
published. Refusing the whole batch instead would make HubSpot retry valid events for a day
(or, on a 4xx, drop them), all because of one event hubsync cannot use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubsync.connectors.hubspot.sources.change_events import from_webhook
from hubsync.connectors.hubspot.webhooks.fields import UnknownSubscriptionTypeError
from hubsync.errors import RejectedRequestError, SkippableRecordError
from hubsync.hubspot_model.limits import WEBHOOK_BATCH_LIMIT

log = logging.getLogger(__name__)

#: HubSpot sends at most 100 events per request
MAX_EVENTS = WEBHOOK_BATCH_LIMIT
#: how many skip reasons a batch keeps for its answer and log line
MAX_REASONS = 5

#: encodes an Avro value for a topic role; raises on a value that does not fit the schema
Encoder = Callable[[str, dict[str, Any]], bytes]


class BadBatchError(RejectedRequestError, ValueError):
    """The body is not a batch hubsync can accept (400); the message is safe to return."""


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    dedupe_key: bytes
    role: str
    #: Kafka message key: ``<portal id>:<HubSpot object id>`` (:func:`message_key`)
    key: str
    value: bytes
    #: the event's ``change_type`` and, for property changes, the property: what the record
    #: fetcher needs to decide whether the full record must be read
    change_type: str = ""
    property_name: str | None = None
    #: the HubSpot object id and the portal it lives in (the record fetcher reads it there)
    object_id: str = ""
    portal_id: int | None = None


@dataclass(slots=True)
class ParsedBatch:
    events: list[ParsedEvent] = field(default_factory=list)
    unknown_type: int = 0
    invalid: int = 0
    #: events of a portal this deployment does not sync (another install of the public app)
    foreign_portal: int = 0
    #: events repeated inside this very batch (published once)
    repeated: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.events) + self.unknown_type + self.invalid + self.repeated + self.foreign_portal

    def _skip(self, index: int, reason: str) -> None:
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"event {index}: {reason}")


def decode_json(body: bytes) -> Any:
    """``json.loads`` that turns every way a body can be bad into :class:`BadBatchError`."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise BadBatchError(f"body is not valid JSON: {detail}") from None


def parse_batch(
    body: bytes,
    *,
    encode: Encoder,
    received_at_ms: int,
    max_events: int = MAX_EVENTS,
    portals: frozenset[int] | None = None,
) -> ParsedBatch:
    """Decode, map and encode a webhook batch. Raises :class:`BadBatchError` for a body that is
    not a JSON array of at most ``max_events`` items. With ``portals``, events of other portals
    are skipped: a public app's webhooks come from every portal that installed it."""
    payload = decode_json(body)
    if not isinstance(payload, list):
        raise BadBatchError(f"body is a JSON {type(payload).__name__}, expected an array of events")
    if len(payload) > max_events:
        raise BadBatchError(f"batch has {len(payload)} events, at most {max_events} are accepted")
    batch = ParsedBatch()
    keys: set[bytes] = set()
    for index, item in enumerate(payload):
        try:
            message = from_webhook(item, received_at_ms=received_at_ms)
        except UnknownSubscriptionTypeError as exc:
            batch.unknown_type += 1
            batch._skip(index, str(exc))
            continue
        except SkippableRecordError as exc:
            batch.invalid += 1
            batch._skip(index, str(exc))
            continue
        portal = message.value.get("portal_id")
        if portals is not None and portal not in portals:
            batch.foreign_portal += 1
            batch._skip(index, f"portal {portal} is not synced by this deployment")
            continue
        try:
            value = encode(message.role, message.value)
        except Exception as exc:  # the Avro writer's complaints (e.g. a lone surrogate in a string)
            batch.invalid += 1
            batch._skip(index, f"does not encode as Avro: {type(exc).__name__}")
            continue
        dedupe_key = bytes.fromhex(message.value["event_id"])
        if dedupe_key in keys:
            batch.repeated += 1
            continue
        keys.add(dedupe_key)
        changed = list(message.value["properties"]) if message.value["partial"] else []
        batch.events.append(
            ParsedEvent(
                dedupe_key,
                message.role,
                message.key,
                value,
                change_type=str(message.value["change_type"]),
                property_name=changed[0] if len(changed) == 1 else None,
                object_id=str(message.value["object_id"]),
                portal_id=portal,
            )
        )
    if batch.reasons:
        log.warning(
            "webhook batch: skipped %d unknown and %d invalid event(s): %s",
            batch.unknown_type,
            batch.invalid,
            "; ".join(batch.reasons),
        )
    return batch
