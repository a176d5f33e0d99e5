"""Convert and validate field values per HubSpot property definition.

HubSpot property values are strings on the wire. Autofill and overwrite call :func:`to_hubspot`
before a value is written to HubSpot, :func:`from_hubspot` to read HubSpot's value back into a
Python value, and :func:`values_differ` to decide whether HubSpot's value differs from the
prospect database's.

Decisions (one place, so the callers and the docs agree):

- ``None`` and the empty string mean "no value": :func:`to_hubspot` returns ``""`` (HubSpot clears a
  property set to ``""``) and :func:`from_hubspot` returns ``None`` for ``""``/``None``.
- A read-only property (``modificationMetadata.readOnlyValue`` or ``calculated``) is never
  writable: :func:`to_hubspot` raises :class:`InvalidPropertyValue` for any value, even ``None``.
- number: ``int``, ``float``, ``Decimal`` or a numeric string (surrounding whitespace ignored; no
  thousands separators). Written in plain notation (never an exponent), integers without ``.0``,
  trailing fractional zeros dropped, ``-0`` as ``0``. ``bool``, NaN and infinities are rejected.
  Read back as ``int`` when integral, otherwise ``Decimal``.
- date: written as ``YYYY-MM-DD`` (HubSpot also takes midnight-UTC epoch ms; the ISO form is
  readable in logs). Accepts ``date``, an aware ``datetime`` / ISO string / epoch-ms that is exactly
  midnight UTC; other times and naive datetimes are rejected. Read back as ``date`` from
  ``YYYY-MM-DD``, epoch ms or an ISO datetime (its UTC calendar day).
- datetime: written as ISO 8601 UTC with milliseconds (``2024-01-02T03:04:05.678Z``); microseconds
  are truncated to milliseconds (HubSpot stores ms). Accepts an aware ``datetime``, a ``date`` or
  ``YYYY-MM-DD`` string (midnight UTC), an ``int`` or all-digit string (epoch ms) or an ISO string
  with an offset; naive values are rejected (the platform's zone is unknowable). Read back as an aware UTC
  ``datetime`` from ISO or epoch ms; a naive ISO string from HubSpot is taken as UTC.
- bool: written ``true``/``false``; accepts ``bool``, ``0``/``1`` and, case-insensitively,
  ``true/false, yes/no, y/n, on/off, 1/0``.
- enumeration: written as the option *value*. An input matches an option's value exactly, else an
  option's label case-insensitively, else an option's value case-insensitively. ``fieldType``
  ``checkbox`` is multi-select: accepts an iterable of strings or a ``;``-joined string, drops
  duplicates (first occurrence wins, order kept) and writes them ``;``-joined; read back as a
  tuple. A definition without options (HubSpot's ``externalOptions``, e.g. owners) passes values
  through unchecked. Reads never check options (HubSpot may return a since-deleted option).
- string: written as is (no trimming), rejected over 65,536 characters (HubSpot's limit).
  ``int``/``float``/``Decimal`` are accepted and written as for number; other types are rejected.
- ``phone_number`` (a HubSpot type newer than the six documented ones) is treated as ``string``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, TypeAlias, cast, get_args

from hubsync.errors import SkippableRecordError

PropertyType = Literal["string", "number", "date", "datetime", "enumeration", "bool"]
_TYPES: frozenset[str] = frozenset(get_args(PropertyType))
_TYPE_ALIASES: Mapping[str, PropertyType] = {"phone_number": "string"}

#: a Python value on the platform side
PlatformValue: TypeAlias = (
    str | int | float | Decimal | bool | date | datetime | tuple[str, ...] | list[str] | None
)
#: what :func:`from_hubspot` returns
HubSpotValue: TypeAlias = str | int | Decimal | bool | date | datetime | tuple[str, ...] | None

MAX_STRING_LENGTH = 65_536
_SHOWN_VALUE_CHARS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"-?\d+")
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class InvalidPropertyValue(SkippableRecordError):  # noqa: N818 (name fixed by the issue)
    """A value that cannot be written to (or read from) a HubSpot property.

    ``property_name``, ``value`` (``repr`` truncated to 100 characters) and ``reason`` are kept
    apart so the activity/error log can store them as fields (:meth:`to_log`).
    """

    def __init__(self, property_name: str, value: object, reason: str) -> None:
        self.property_name = property_name
        self.value = _shown(value)
        self.reason = reason
        super().__init__(f"invalid value for property {property_name!r}: {reason} (value: {self.value})")

    def to_log(self) -> dict[str, str]:
        """The fields for an activity/error-log entry."""
        return {"property": self.property_name, "value": self.value, "reason": self.reason}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """What conversion needs to know about one HubSpot property.

    ``options`` are the allowed option values; ``option_labels`` the matching labels (same order,
    same length, or empty). ``read_only`` is ``readOnlyValue`` or ``calculated``.
    """

    name: str
    type: PropertyType
    field_type: str = "text"
    options: tuple[str, ...] = ()
    option_labels: tuple[str, ...] = ()
    read_only: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"unknown property type {self.type!r} for {self.name!r}")
        if self.option_labels and len(self.option_labels) != len(self.options):
            raise ValueError(f"option_labels and options differ in length for {self.name!r}")

    @property
    def multi_select(self) -> bool:
        """``fieldType`` ``checkbox``: several options, ``;``-joined on the wire."""
        return self.type == "enumeration" and self.field_type == "checkbox"

    @classmethod
    def from_hubspot(cls, body: Mapping[str, object]) -> PropertyDefinition:
        """Parse the Properties API ``Property`` JSON (``GET /crm/v3/properties/{objectType}``)."""
        name = body.get("name")
        raw_type = body.get("type")
        if not isinstance(name, str) or not name:
            raise ValueError("property JSON without a name")
        if not isinstance(raw_type, str):
            raise ValueError(f"property {name!r} without a type")
        prop_type = _TYPE_ALIASES.get(raw_type, raw_type)
        if prop_type not in _TYPES:
            raise ValueError(f"unknown property type {raw_type!r} for {name!r}")
        field_type = body.get("fieldType")
        values: list[str] = []
        labels: list[str] = []
        raw_options = body.get("options") or []
        if not isinstance(raw_options, list):
            raise ValueError(f"property {name!r}: options is not a list")
        for option in raw_options:
            if not isinstance(option, Mapping) or not isinstance(option.get("value"), str):
                raise ValueError(f"property {name!r}: option without a string value")
            values.append(option["value"])
            label = option.get("label")
            labels.append(label if isinstance(label, str) else option["value"])
        metadata = body.get("modificationMetadata")
        read_only_value = isinstance(metadata, Mapping) and metadata.get("readOnlyValue") is True
        return cls(
            name=name,
            type=cast(PropertyType, prop_type),
            field_type=field_type if isinstance(field_type, str) else "text",
            options=tuple(values),
            option_labels=tuple(labels),
            read_only=read_only_value or body.get("calculated") is True,
        )


# --- platform -> HubSpot -----------------------------------------------------------------------


def to_hubspot(definition: PropertyDefinition, value: PlatformValue) -> str:
    """Convert a platform value to HubSpot's wire string; raise :class:`InvalidPropertyValue`."""
    if definition.read_only:
        raise InvalidPropertyValue(definition.name, value, "property is read-only in HubSpot")
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    try:
        return _WRITERS[definition.type](definition, value)
    except _InvalidError as exc:
        raise InvalidPropertyValue(definition.name, value, str(exc)) from None


class _InvalidError(SkippableRecordError):
    """Internal: a reason, wrapped into :class:`InvalidPropertyValue` with the property name."""


def _number_text(value: object) -> str:
    if isinstance(value, bool):
        raise _InvalidError("expected a number, got a bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _InvalidError("NaN and infinity are not numbers HubSpot accepts")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _InvalidError("not a number") from None
    else:
        raise _InvalidError(f"expected a number, got {type(value).__name__}")
    if not number.is_finite():
        raise _InvalidError("NaN and infinity are not numbers HubSpot accepts")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _write_number(_definition: PropertyDefinition, value: PlatformValue) -> str:
    return _number_text(value)


def _write_string(_definition: PropertyDefinition, value: PlatformValue) -> str:
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise _InvalidError(f"{len(value)} characters, more than HubSpot's {MAX_STRING_LENGTH}")
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _number_text(value)
    raise _InvalidError(f"expected a string, got {type(value).__name__}")


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _InvalidError("naive datetime (no time zone); give an aware datetime or a UTC offset")
    return value.astimezone(UTC)


def _from_epoch_ms(ms: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise _InvalidError("epoch milliseconds out of range") from None


def _parse_datetime_text(text: str, *, assume_utc: bool) -> datetime:
    text = text.strip()
    if _DIGITS.fullmatch(text):
        return _from_epoch_ms(int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _InvalidError("not an ISO 8601 datetime or epoch milliseconds") from None
    if assume_utc and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _aware_utc(parsed)


def _to_utc_datetime(value: PlatformValue) -> datetime:
    if isinstance(value, datetime):
        return _aware_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_epoch_ms(value)
    if isinstance(value, str):
        if len(value.strip()) == 10 and "-" in value:
            try:
                return datetime.combine(date.fromisoformat(value.strip()), time(0), tzinfo=UTC)
            except ValueError:
                raise _InvalidError("not a YYYY-MM-DD date") from None
        return _parse_datetime_text(value, assume_utc=False)
    raise _InvalidError(f"expected a datetime, got {type(value).__name__}")


def _write_datetime(_definition: PropertyDefinition, value: PlatformValue) -> str:
    moment = _to_utc_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _write_date(_definition: PropertyDefinition, value: PlatformValue) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise _InvalidError("not a YYYY-MM-DD date") from None
    moment = _to_utc_datetime(value)
    if moment.time() != time(0):
        raise _InvalidError("a date property takes midnight UTC only; this has a time of day")
    return moment.date().isoformat()


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _InvalidError("not a boolean (true/false, yes/no, y/n, on/off, 1/0)")


def _write_bool(_definition: PropertyDefinition, value: PlatformValue) -> str:
    return "true" if _parse_bool(value) else "false"


def _match_option(definition: PropertyDefinition, item: str) -> str:
    if not definition.options or item in definition.options:
        return item
    folded = item.casefold()
    labels = definition.option_labels or definition.options
    for option, label in zip(definition.options, labels, strict=True):
        if label.casefold() == folded:
            return option
    for option in definition.options:
        if option.casefold() == folded:
            return option
    allowed = ", ".join(definition.options)
    if len(allowed) > _SHOWN_VALUE_CHARS:
        allowed = allowed[: _SHOWN_VALUE_CHARS - 1] + "…"
    raise _InvalidError(f"{item!r} is not one of the allowed options ({allowed})")


def _write_enumeration(definition: PropertyDefinition, value: PlatformValue) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    if definition.multi_select:
        items: Iterable[object] = value.split(";") if isinstance(value, str) else _iterable(value)
        chosen: dict[str, None] = {}
        for item in items:
            if not isinstance(item, str):
                raise _InvalidError(f"expected option strings, got {type(item).__name__}")
            if item.strip():
                chosen.setdefault(_match_option(definition, item.strip()), None)
        return ";".join(chosen)
    if not isinstance(value, str):
        raise _InvalidError(f"expected an option value, got {type(value).__name__}")
    return _match_option(definition, value.strip())


def _iterable(value: object) -> Iterable[object]:
    if isinstance(value, list | tuple | set | frozenset):
        return cast(Iterable[object], value)
    raise _InvalidError(f"expected option values (a list or ';'-joined string), got {type(value).__name__}")


_WRITERS = {
    "string": _write_string,
    "number": _write_number,
    "date": _write_date,
    "datetime": _write_datetime,
    "bool": _write_bool,
    "enumeration": _write_enumeration,
}


# --- HubSpot -> platform -----------------------------------------------------------------------


def from_hubspot(definition: PropertyDefinition, wire: str | None) -> HubSpotValue:
    """HubSpot's wire string as a Python value (``None`` for no value); see the module docstring."""
    if wire is None or wire == "":
        return None
    try:
        return _read(definition, wire)
    except _InvalidError as exc:
        raise InvalidPropertyValue(definition.name, wire, str(exc)) from None


def _read(definition: PropertyDefinition, wire: str) -> HubSpotValue:
    kind = definition.type
    if kind == "number":
        try:
            number = Decimal(wire.strip())
        except InvalidOperation:
            raise _InvalidError("not a number") from None
        if not number.is_finite():
            raise _InvalidError("NaN and infinity are not numbers")
        return int(number) if number == number.to_integral_value() else number
    if kind == "datetime":
        moment = _parse_datetime_text(wire, assume_utc=True)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if kind == "date":
        text = wire.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise _InvalidError("not a YYYY-MM-DD date") from None
        return _parse_datetime_text(text, assume_utc=True).date()
    if kind == "bool":
        return _parse_bool(wire)
    if definition.multi_select:
        return tuple(item.strip() for item in wire.split(";") if item.strip())
    return wire


def values_differ(definition: PropertyDefinition, a: str | None, b: str | None) -> bool:
    """Whether two wire strings hold different values for ``definition``.

    Compared as parsed values: numbers numerically (``"10"`` == ``"10.0"``), datetimes at
    millisecond precision (ISO and epoch ms alike), bools by meaning, checkbox selections as
    sets; strings and single-select options exactly. ``None`` and ``""`` are the same (no value).
    A value that does not parse is compared as its raw string.
    """
    left, right = _comparable(definition, a), _comparable(definition, b)
    return left != right


def _comparable(definition: PropertyDefinition, wire: str | None) -> object:
    try:
        value = from_hubspot(definition, wire)
    except InvalidPropertyValue:
        return ("unparsed", wire)
    if isinstance(value, tuple):
        return frozenset(value)
    return value
