"""Search filters with HubSpot's type-aware comparisons.

Numbers compare numerically; datetimes as epoch ms (filter values may be epoch ms or ISO-8601);
dates as ``YYYY-MM-DD``; strings, enumerations and booleans case-insensitively. ``NEQ``/``NOT_IN``/
``NOT_CONTAINS_TOKEN`` also match records without a value. ``CONTAINS_TOKEN`` matches a whole word
of the value, or the value against a ``*`` wildcard pattern (``*@example.com``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, HubSpotObjectName
from hubsync.sandbox.errors import ErrorDetail, HubSpotApiError, validation_error
from hubsync.sandbox.records import Record
from hubsync.sandbox.timefmt import iso_date, parse_datetime_ms

if TYPE_CHECKING:
    from hubsync.sandbox.store import CrmStore

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_NO_VALUE = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})
_MANY = frozenset({"IN", "NOT_IN"})
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

Key = Any  # int | float | str, one kind per property
KeyFn = Callable[[Record], Key | None]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Filter:
    property: str
    operator: str
    values: tuple[str, ...]
    kind: str  # number | datetime | date | text | id

    def time_bounds(self) -> tuple[int | None, int | None] | None:
        """``[low, high)`` in epoch ms for range operators on a datetime; None for the others."""
        if self.kind != "datetime" or self.operator not in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
            return None
        ms = [parse_datetime_ms(v) for v in self.values]
        if any(m is None for m in ms):
            return None
        first = ms[0]
        assert first is not None
        return {
            "EQ": (first, first + 1),
            "GT": (first + 1, None),
            "GTE": (first, None),
            "LT": (None, first),
            "LTE": (None, first + 1),
            "BETWEEN": (first, (ms[-1] or first) + 1),
        }[self.operator]


def _bad(message: str) -> HubSpotApiError:
    return validation_error(message, errors=[ErrorDetail(message=message, location="filterGroups")])


def _kind(store: CrmStore, object_type: HubSpotObjectName, name: str) -> str:
    if name == "hs_object_id":
        return "id"
    prop = store.registry.find(object_type, name)
    if prop is None:
        raise _bad(f"Unable to filter on property {name}: it does not exist on {object_type}")
    return {"number": "number", "datetime": "datetime", "date": "date"}.get(prop.type, "text")


def parse_filter(store: CrmStore, object_type: HubSpotObjectName, raw: object) -> Filter:
    if not isinstance(raw, Mapping):
        raise _bad("Each filter must be an object")
    name, operator = raw.get("propertyName"), str(raw.get("operator", "EQ")).upper()
    if not isinstance(name, str) or not name:
        raise _bad("Each filter needs a propertyName")
    if operator not in OPERATORS:
        raise _bad(f"Unknown filter operator {operator}")
    kind = _kind(store, object_type, name)
    if operator in _NO_VALUE:
        values: tuple[str, ...] = ()
    elif operator in _MANY:
        raw_values = raw.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise _bad(f"Operator {operator} on {name} needs a non-empty values array")
        values = tuple(str(v) for v in raw_values)
    elif operator == "BETWEEN":
        if raw.get("value") is None or raw.get("highValue") is None:
            raise _bad(f"BETWEEN on {name} needs value and highValue")
        values = (str(raw["value"]), str(raw["highValue"]))
    else:
        if raw.get("value") is None:
            raise _bad(f"Operator {operator} on {name} needs a value")
        values = (str(raw["value"]),)
    for value in values if operator not in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN") else ():
        if _convert(kind, value) is None:
            raise _bad(f"{value} is not a valid {kind} value for property {name}")
    return Filter(name, operator, values, kind)


def _convert(kind: str, value: str) -> Key | None:
    try:
        if kind == "id":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return None
    if kind == "datetime":
        return parse_datetime_ms(value)
    if kind == "date":
        ms = parse_datetime_ms(value)
        return None if ms is None else iso_date(ms)
    return value.lower()


def record_key(store: CrmStore, object_type: HubSpotObjectName, name: str) -> KeyFn:
    """A function giving a record's comparable value for ``name`` (None when it has none)."""
    if name == "hs_object_id":
        return lambda r: r.id
    if name == MODIFIED_PROPERTY[object_type]:
        return lambda r: r.updated_ms
    if name in ("createdate", "hs_createdate"):
        return lambda r: r.created_ms
    kind = _kind(store, object_type, name)
    stored = not store.registry.get(object_type, name).calculated

    def key(record: Record) -> Key | None:
        raw = record.value(name) if stored else store.value_of(object_type, record, name)
        return None if raw is None or raw == "" else _convert(kind, raw)

    return key


def compile_filter(store: CrmStore, object_type: HubSpotObjectName, f: Filter) -> Callable[[Record], bool]:
    key = record_key(store, object_type, f.property)
    op = f.operator
    if op == "HAS_PROPERTY":
        return lambda r: key(r) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda r: key(r) is None
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        match = _token_matcher(f.values[0])

        def contains(record: Record) -> bool:
            value = store.value_of(object_type, record, f.property)
            return bool(value) and match(str(value))

        return contains if op == "CONTAINS_TOKEN" else (lambda r: not contains(r))
    wanted = [_convert(f.kind, v) for v in f.values]
    first = wanted[0] if wanted else None
    if op in ("IN", "NOT_IN"):
        allowed = frozenset(wanted)
        return (lambda r: key(r) in allowed) if op == "IN" else (lambda r: key(r) not in allowed)
    if op == "NEQ":
        return lambda r: key(r) != first
    if op == "BETWEEN":
        low, high = wanted
        return lambda r: (k := key(r)) is not None and low <= k <= high
    compare: Callable[[Key, Key], bool] = {
        "EQ": lambda a, b: a == b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
    }[op]
    return lambda r: (k := key(r)) is not None and compare(k, first)


def _token_matcher(pattern: str) -> Callable[[str], bool]:
    lowered = pattern.lower()
    if "*" in lowered:
        return lambda value: fnmatch.fnmatchcase(value.lower(), lowered)
    return lambda value: lowered in tokens(value) or value.lower() == lowered
