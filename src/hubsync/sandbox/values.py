"""Type checks and normalisation of property values, with HubSpot's error codes and messages."""

from __future__ import annotations

import math
import re

from hubsync.hubspot_model.properties import Property
from hubsync.sandbox.tables import is_object_id
from hubsync.sandbox.timefmt import is_midnight, iso_date, iso_ms, parse_datetime_ms

# HubSpot checks RFC 2822 form plus a real-looking TLD; quotes in the local part are refused.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
MAX_STRING_LENGTH = 65_536


class InvalidValue(Exception):  # noqa: N818 - HubSpot calls these "invalid values"
    """One property's value failed a check: ``code`` is HubSpot's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_wire_string(value: object) -> str | None:
    """Property values travel as strings; JSON numbers and booleans are accepted as HubSpot does."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise InvalidValue("INVALID_VALUE", f"{value!r} is not a valid property value")


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email) or ".." in email:
        raise InvalidValue("INVALID_EMAIL", f"Email address {value} is invalid")
    return email


def _normalize_number(value: str) -> str:
    text = value.strip()
    if not _NUMBER.match(text) or not math.isfinite(float(text)):
        raise InvalidValue("INVALID_NUMBER", f"{value} is not a valid number.")
    if "e" in text.lower():
        number = float(text)
        return str(int(number)) if number.is_integer() else repr(number)
    return text.lstrip("+")


def _normalize_bool(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidValue("INVALID_BOOLEAN", f"{value} is not a valid boolean value, expected true or false")
    return lowered


def _normalize_date(value: str) -> str:
    ms = parse_datetime_ms(value)
    if ms is None:
        raise InvalidValue(
            "INVALID_DATE", f"{value} is not a valid date, expected YYYY-MM-DD or midnight UTC in ms"
        )
    if not is_midnight(ms):
        raise InvalidValue("INVALID_DATE", f"{value} is not at midnight UTC; date properties take dates only")
    return iso_date(ms)


def _normalize_datetime(value: str) -> str:
    ms = parse_datetime_ms(value)
    if ms is None:
        raise InvalidValue(
            "INVALID_DATETIME", f"{value} is not a valid datetime, expected epoch ms or ISO-8601"
        )
    return iso_ms(ms)


def _normalize_enumeration(prop: Property, value: str) -> str:
    if prop.external_options:  # owners and the like: ids of objects the sandbox does not model
        if not is_object_id(value.strip()):
            raise InvalidValue("INVALID_OPTION", f"{value} was not one of the allowed options")
        return value.strip()
    allowed = prop.option_values
    parts = list(value.split(";")) if prop.field_type == "checkbox" else [value]
    for part in parts:
        if part not in allowed:
            listed = ", ".join(o.value for o in prop.options)
            raise InvalidValue("INVALID_OPTION", f"{part} was not one of the allowed options: [{listed}]")
    return ";".join(parts)


def normalize(prop: Property, value: str) -> str:
    """The stored form of ``value`` (already a non-empty string) or :class:`InvalidValue`."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if prop.name in ("email", "hs_additional_emails") or prop.extra.get("textDisplayHint") == "email":
        if prop.name == "hs_additional_emails":
            return ";".join(normalize_email(v) for v in value.split(";") if v.strip())
        return normalize_email(value)
    kind = prop.type
    if kind == "number":
        return _normalize_number(value)
    if kind == "bool":
        return _normalize_bool(value)
    if kind == "date":
        return _normalize_date(value)
    if kind == "datetime":
        return _normalize_datetime(value)
    if kind == "enumeration":
        return _normalize_enumeration(prop, value)
    if len(value) > MAX_STRING_LENGTH:
        raise InvalidValue("INVALID_STRING_LENGTH", f"Value is longer than {MAX_STRING_LENGTH} characters")
    return value
