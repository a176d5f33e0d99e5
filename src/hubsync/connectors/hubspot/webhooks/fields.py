"""Field readers for HubSpot webhook events: strict about types, clear about what is wrong.

HubSpot sends ids and timestamps as JSON numbers; decimal strings are accepted too (some proxies
and replays stringify them). Booleans are never numbers here, although Python says they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubsync.errors import SkippableRecordError

#: subscriptionType prefix -> Avro ``HubSpotObjectType``
OBJECT_TYPES: dict[str, str] = {"contact": "CONTACT", "company": "COMPANY"}
#: Avro object type -> topic role (a ``TopicNames`` field)
TOPIC_ROLES: dict[str, str] = {"CONTACT": "hubspot_contacts", "COMPANY": "hubspot_companies"}
#: subscriptionType suffix -> Avro ``HubSpotChangeType``
CHANGE_TYPES: dict[str, str] = {
    "creation": "CREATION",
    "propertyChange": "PROPERTY_CHANGE",
    "deletion": "DELETION",
    "merge": "MERGE",
    "restore": "RESTORE",
    "associationChange": "ASSOCIATION_CHANGE",
    "privacyDeletion": "PRIVACY_DELETION",
}
MAX_MILLIS = 2**63 - 1
_MAX_ID_DIGITS = 40


class InvalidChangeEventError(SkippableRecordError):
    """A change event with a missing or malformed field."""


class UnknownSubscriptionTypeError(SkippableRecordError):
    """A webhook subscription type hubsync does not consume (another object, a new kind)."""


def split_subscription_type(value: Any) -> tuple[str, str, str]:
    """``contact.propertyChange`` -> (``CONTACT``, ``PROPERTY_CHANGE``, ``hubspot_contacts``)."""
    if not isinstance(value, str) or not value:
        raise InvalidChangeEventError("event without a subscriptionType")
    prefix, _, kind = value.partition(".")
    object_type = OBJECT_TYPES.get(prefix)
    change_type = CHANGE_TYPES.get(kind)
    if object_type is None or change_type is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise UnknownSubscriptionTypeError(f"subscription type {shown!r} is not consumed by hubsync")
    return object_type, change_type, TOPIC_ROLES[object_type]


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_ID_DIGITS:
        return str(int(value))
    return None


def require_id(event: Mapping[str, Any], name: str, label: str | None = None) -> str:
    """A HubSpot id (non-negative integer or its decimal string), as a string."""
    value = event.get(name)
    if value is None:
        raise InvalidChangeEventError(f"{label or name} is missing")
    found = _as_id(value)
    if found is None:
        raise InvalidChangeEventError(f"{label or name} is not a HubSpot id: {str(value)[:40]!r}")
    return found


def opt_id(event: Mapping[str, Any], name: str) -> str | None:
    return None if event.get(name) is None else require_id(event, name)


def require_millis(event: Mapping[str, Any], name: str) -> int:
    """A Unix-milliseconds timestamp that fits Avro's ``timestamp-millis``."""
    value = event.get(name)
    if value is None:
        raise InvalidChangeEventError(f"{name} is missing")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MILLIS:
        raise InvalidChangeEventError(f"{name} is not Unix milliseconds: {str(value)[:40]!r}")
    return value


def object_id(event: Mapping[str, Any], change_type: str) -> str:
    """The record the event is about: ``objectId``; a merge without one names its primary, an
    association change its ``fromObjectId``."""
    if event.get("objectId") is None:
        if change_type == "MERGE" and event.get("primaryObjectId") is not None:
            return require_id(event, "primaryObjectId")
        if change_type == "ASSOCIATION_CHANGE" and event.get("fromObjectId") is not None:
            return require_id(event, "fromObjectId")
    return require_id(event, "objectId")


def _opt_text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidChangeEventError(f"{name} is a {type(value).__name__}, expected a string")


def change_source(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """HubSpot's ``changeSource`` (kind of writer) and ``sourceId`` (the writer)."""
    return _opt_text(event, "changeSource"), _opt_text(event, "sourceId")


def _flag(event: Mapping[str, Any], name: str, *, default: bool | None = None) -> bool:
    value = event.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidChangeEventError(f"{name} is not a boolean: {str(value)[:40]!r}")


def association(event: Mapping[str, Any], object_type: str) -> dict[str, Any]:
    """The ``association`` record of an ``associationChange`` between contacts and companies.

    ``associationType`` is ``CONTACT_TO_COMPANY`` style; associations with other objects (deals,
    tickets...) are not consumed and raise :class:`UnknownSubscriptionTypeError`.
    """
    kind = event.get("associationType")
    from_type = to_type = None
    if isinstance(kind, str):
        left, sep, right = kind.upper().partition("_TO_")
        if sep and left in TOPIC_ROLES and right in TOPIC_ROLES:
            from_type, to_type = left, right
        else:
            shown = kind if len(kind) <= 60 else kind[:57] + "..."
            raise UnknownSubscriptionTypeError(f"association type {shown!r} is not consumed by hubsync")
    elif kind is None:
        from_type, to_type = object_type, "COMPANY" if object_type == "CONTACT" else "CONTACT"
    else:
        raise InvalidChangeEventError("associationType is not a string")
    return {
        "from_object_type": from_type,
        "from_object_id": require_id(event, "fromObjectId"),
        "to_object_type": to_type,
        "to_object_id": require_id(event, "toObjectId"),
        "removed": _flag(event, "associationRemoved", default=False),
        "is_primary": _flag(event, "isPrimaryAssociation", default=False),
    }
