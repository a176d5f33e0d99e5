"""Value conversion and validation per HubSpot property definition."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubsync.errors import SkippableRecordError
from hubsync.mapping import (
    InvalidPropertyValue,
    PropertyDefinition,
    from_hubspot,
    to_hubspot,
    values_differ,
)
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.property_io import property_to_json

STRING = PropertyDefinition("name", "string")
NUMBER = PropertyDefinition("numberofemployees", "number", "number")
DATE = PropertyDefinition("date_of_birth", "date", "date")
DATETIME = PropertyDefinition("closedate", "datetime", "date")
BOOL = PropertyDefinition("is_public", "bool", "booleancheckbox", ("true", "false"), ("Yes", "No"))
ENUM = PropertyDefinition(
    "hs_lead_status", "enumeration", "select", ("NEW", "OPEN", "IN_PROGRESS"), ("New", "Open", "In Progress")
)
CHECKBOX = PropertyDefinition(
    "tags", "enumeration", "checkbox", ("a", "b", "c_d"), ("Alpha", "Beta", "Charlie Delta")
)
EXTERNAL = PropertyDefinition("hubspot_owner_id", "enumeration", "select")
READ_ONLY = PropertyDefinition("createdate", "datetime", "date", read_only=True)

CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("definition", "value", "wire"),
    [
        (STRING, "Acme Inc.", "Acme Inc."),
        (STRING, "  padded  ", "  padded  "),
        (STRING, "x" * 65_536, "x" * 65_536),
        (STRING, 42, "42"),
        (STRING, None, ""),
        (STRING, "", ""),
        (NUMBER, 10, "10"),
        (NUMBER, 10.0, "10"),
        (NUMBER, -0.0, "0"),
        (NUMBER, 1.5, "1.5"),
        (NUMBER, 1e20, "100000000000000000000"),
        (NUMBER, 1e-7, "0.0000001"),
        (NUMBER, Decimal("1.500"), "1.5"),
        (NUMBER, Decimal("1E+3"), "1000"),
        (NUMBER, " 12.50 ", "12.5"),
        (NUMBER, "-3", "-3"),
        (NUMBER, 10**30, "1" + "0" * 30),
        (DATE, date(2024, 2, 29), "2024-02-29"),
        (DATE, "2024-02-29", "2024-02-29"),
        (DATE, datetime(2024, 2, 29, tzinfo=UTC), "2024-02-29"),
        (DATE, datetime(2024, 3, 1, 1, 0, tzinfo=CET), "2024-03-01"),
        (DATE, "1709164800000", "2024-02-29"),
        (DATE, "2024-02-29T00:00:00Z", "2024-02-29"),
        (DATETIME, datetime(2024, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
        (DATETIME, datetime(2024, 1, 2, 4, 4, 5, tzinfo=CET), "2024-01-02T03:04:05.000Z"),
        (DATETIME, date(2024, 1, 2), "2024-01-02T00:00:00.000Z"),
        (DATETIME, "2024-01-02", "2024-01-02T00:00:00.000Z"),
        (DATETIME, 1704164645678, "2024-01-02T03:04:05.678Z"),
        (DATETIME, "1704164645678", "2024-01-02T03:04:05.678Z"),
        (DATETIME, "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.678Z"),
        (DATETIME, "2024-01-02T04:04:05+01:00", "2024-01-02T03:04:05.000Z"),
        (BOOL, True, "true"),
        (BOOL, False, "false"),
        (BOOL, "YES", "true"),
        (BOOL, "no", "false"),
        (BOOL, "1", "true"),
        (BOOL, "0", "false"),
        (BOOL, " True ", "true"),
        (BOOL, 1, "true"),
        (ENUM, "NEW", "NEW"),
        (ENUM, "in progress", "IN_PROGRESS"),
        (ENUM, "IN PROGRESS", "IN_PROGRESS"),
        (ENUM, "open", "OPEN"),
        (EXTERNAL, "12345", "12345"),
        (CHECKBOX, ["a", "b"], "a;b"),
        (CHECKBOX, ("b", "a", "b"), "b;a"),
        (CHECKBOX, "alpha;Charlie Delta", "a;c_d"),
        (CHECKBOX, [], ""),
        (CHECKBOX, "c_d", "c_d"),
    ],
)
def test_to_hubspot_valid(definition: PropertyDefinition, value: Any, wire: str) -> None:
    assert to_hubspot(definition, value) == wire


@pytest.mark.parametrize(
    ("definition", "value", "reason"),
    [
        (STRING, "x" * 65_537, "more than HubSpot's 65536"),
        (STRING, True, "expected a string"),
        (STRING, date(2024, 1, 1), "expected a string"),
        (NUMBER, float("nan"), "NaN"),
        (NUMBER, float("inf"), "NaN and infinity"),
        (NUMBER, Decimal("NaN"), "NaN"),
        (NUMBER, "Infinity", "NaN"),
        (NUMBER, "1,000", "not a number"),
        (NUMBER, "ten", "not a number"),
        (NUMBER, True, "got a bool"),
        (NUMBER, date(2024, 1, 1), "expected a number"),
        (DATE, datetime(2024, 1, 2, 3, 0, tzinfo=UTC), "midnight UTC only"),
        (DATE, datetime(2024, 1, 2, 0, 0, tzinfo=CET), "midnight UTC only"),
        (DATE, datetime(2024, 1, 2), "naive"),
        (DATE, "2024-02-30", "YYYY-MM-DD"),
        (DATE, "1704164645678", "midnight UTC only"),
        (DATE, "yesterday", "ISO 8601"),
        (DATE, 1.5, "expected a datetime"),
        (DATETIME, datetime(2024, 1, 2, 3, 4, 5), "naive"),
        (DATETIME, "2024-01-02T03:04:05", "naive"),
        (DATETIME, "not a date", "ISO 8601"),
        (DATETIME, "2024-02-30", "YYYY-MM-DD"),
        (DATETIME, "99999999999999999999", "out of range"),
        (DATETIME, True, "expected a datetime"),
        (BOOL, "maybe", "not a boolean"),
        (BOOL, 2, "not a boolean"),
        (BOOL, date(2024, 1, 1), "not a boolean"),
        (ENUM, "CLOSED", "not one of the allowed options (NEW, OPEN, IN_PROGRESS)"),
        (ENUM, 3, "expected an option value"),
        (ENUM, ["NEW"], "expected an option value"),
        (CHECKBOX, ["a", "zzz"], "'zzz' is not one of the allowed options"),
        (CHECKBOX, "a;zzz", "'zzz' is not one of"),
        (CHECKBOX, [1], "expected option strings"),
        (CHECKBOX, 7, "expected option values"),
        (READ_ONLY, datetime(2024, 1, 1, tzinfo=UTC), "read-only"),
        (READ_ONLY, None, "read-only"),
    ],
)
def test_to_hubspot_invalid(definition: PropertyDefinition, value: Any, reason: str) -> None:
    with pytest.raises(InvalidPropertyValue) as caught:
        to_hubspot(definition, value)
    assert reason in caught.value.reason
    assert caught.value.property_name == definition.name
    assert definition.name in str(caught.value)


def test_invalid_value_is_skippable_and_loggable() -> None:
    with pytest.raises(SkippableRecordError) as caught:
        to_hubspot(STRING, "y" * 70_000)
    error = caught.value
    assert isinstance(error, InvalidPropertyValue)
    log = error.to_log()
    assert log["property"] == "name"
    assert len(log["value"]) == 100 and log["value"].endswith("…")
    assert "65536" in log["reason"]


@pytest.mark.parametrize(
    ("definition", "wire", "expected"),
    [
        (STRING, "Acme", "Acme"),
        (STRING, "", None),
        (STRING, None, None),
        (NUMBER, "10", 10),
        (NUMBER, "10.0", 10),
        (NUMBER, "1.25", Decimal("1.25")),
        (NUMBER, "-7", -7),
        (DATE, "2024-02-29", date(2024, 2, 29)),
        (DATE, "1709164800000", date(2024, 2, 29)),
        (DATETIME, "2024-01-02T03:04:05.678Z", datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)),
        (DATETIME, "2024-01-02T03:04:05.678901Z", datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)),
        (DATETIME, "1704164645678", datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)),
        (DATETIME, "2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (BOOL, "true", True),
        (BOOL, "false", False),
        (BOOL, "TRUE", True),
        (ENUM, "OPEN", "OPEN"),
        (ENUM, "RETIRED_OPTION", "RETIRED_OPTION"),
        (CHECKBOX, "a;b", ("a", "b")),
        (CHECKBOX, "a", ("a",)),
        (CHECKBOX, "", None),
    ],
)
def test_from_hubspot(definition: PropertyDefinition, wire: str | None, expected: object) -> None:
    value = from_hubspot(definition, wire)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("definition", "wire"),
    [(NUMBER, "abc"), (NUMBER, "NaN"), (DATE, "2024-13-01"), (DATETIME, "soon"), (BOOL, "perhaps")],
)
def test_from_hubspot_invalid(definition: PropertyDefinition, wire: str) -> None:
    with pytest.raises(InvalidPropertyValue):
        from_hubspot(definition, wire)


@pytest.mark.parametrize(
    ("definition", "a", "b", "differ"),
    [
        (NUMBER, "10", "10.0", False),
        (NUMBER, "10", "10.5", True),
        (NUMBER, "", None, False),
        (NUMBER, "0", "", True),
        (DATETIME, "2024-01-02T03:04:05.678Z", "1704164645678", False),
        (DATETIME, "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.678999Z", False),
        (DATETIME, "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.679Z", True),
        (DATE, "2024-02-29", "1709164800000", False),
        (BOOL, "true", "TRUE", False),
        (BOOL, "true", "false", True),
        (CHECKBOX, "a;b", "b;a", False),
        (CHECKBOX, "a;b", "a", True),
        (ENUM, "OPEN", "OPEN", False),
        (ENUM, "OPEN", "open", True),
        (STRING, "Acme", "Acme", False),
        (STRING, "Acme", "acme", True),
        (STRING, "Acme", "Acme ", True),
        (STRING, "", None, False),
        (NUMBER, "abc", "abc", False),
        (NUMBER, "abc", "10", True),
    ],
)
def test_values_differ(definition: PropertyDefinition, a: str | None, b: str | None, differ: bool) -> None:
    assert values_differ(definition, a, b) is differ
    assert values_differ(definition, b, a) is differ


# --- round trips --------------------------------------------------------------------------------

_aware = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.sampled_from([UTC, CET, timezone(timedelta(hours=-5, minutes=-30))]),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != ""))
def test_round_trip_string(value: str) -> None:
    assert from_hubspot(STRING, to_hubspot(STRING, value)) == value


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_round_trip_int(value: int) -> None:
    assert from_hubspot(NUMBER, to_hubspot(NUMBER, value)) == value


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=6))
def test_round_trip_decimal(value: Decimal) -> None:
    assert from_hubspot(NUMBER, to_hubspot(NUMBER, value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_round_trip_float(value: float) -> None:
    assert from_hubspot(NUMBER, to_hubspot(NUMBER, value)) == Decimal(repr(value))


@given(st.dates())
def test_round_trip_date(value: date) -> None:
    assert from_hubspot(DATE, to_hubspot(DATE, value)) == value


@given(_aware)
def test_round_trip_datetime(value: datetime) -> None:
    back = from_hubspot(DATETIME, to_hubspot(DATETIME, value))
    assert back == value
    assert isinstance(back, datetime) and back.tzinfo is UTC


@given(st.booleans())
def test_round_trip_bool(value: bool) -> None:
    assert from_hubspot(BOOL, to_hubspot(BOOL, value)) is value


@given(st.sampled_from(ENUM.options))
def test_round_trip_enumeration(value: str) -> None:
    assert from_hubspot(ENUM, to_hubspot(ENUM, value)) == value


@given(st.lists(st.sampled_from(CHECKBOX.options), min_size=1, unique=True))
def test_round_trip_checkbox(value: list[str]) -> None:
    assert from_hubspot(CHECKBOX, to_hubspot(CHECKBOX, value)) == tuple(value)


# --- definitions from the Properties API JSON ---------------------------------------------------


def _sandbox(object_type: str, name: str) -> PropertyDefinition:
    registry = PropertyRegistry()
    (prop,) = [p for p in registry.definitions(object_type) if p.name == name]  # type: ignore[arg-type]
    return PropertyDefinition.from_hubspot(property_to_json(prop))


def test_from_hubspot_sandbox_industry() -> None:
    industry = _sandbox("company", "industry")
    assert (industry.type, industry.field_type, industry.read_only) == ("enumeration", "select", False)
    assert "COMPUTER_SOFTWARE" in industry.options
    assert len(industry.options) == len(industry.option_labels) > 100
    assert to_hubspot(industry, "computer software") == "COMPUTER_SOFTWARE"
    with pytest.raises(InvalidPropertyValue):
        to_hubspot(industry, "Underwater Basket Weaving")


def test_from_hubspot_sandbox_numberofemployees() -> None:
    employees = _sandbox("company", "numberofemployees")
    assert (employees.type, employees.options, employees.read_only) == ("number", (), False)
    assert to_hubspot(employees, 250.0) == "250"


def test_from_hubspot_sandbox_createdate_is_read_only() -> None:
    created = _sandbox("company", "createdate")
    assert (created.type, created.read_only) == ("datetime", True)
    with pytest.raises(InvalidPropertyValue, match="read-only"):
        to_hubspot(created, datetime(2024, 1, 1, tzinfo=UTC))
    assert from_hubspot(created, "2024-01-01T00:00:00.000Z") == datetime(2024, 1, 1, tzinfo=UTC)


def test_from_hubspot_sandbox_lead_status() -> None:
    status = _sandbox("contact", "hs_lead_status")
    assert status.type == "enumeration"
    assert ("NEW", "New") in zip(status.options, status.option_labels, strict=True)
    assert to_hubspot(status, "in progress") == "IN_PROGRESS"


def test_every_sandbox_definition_parses() -> None:
    registry = PropertyRegistry()
    for object_type in ("contact", "company"):
        for prop in registry.definitions(object_type):
            definition = PropertyDefinition.from_hubspot(property_to_json(prop))
            assert definition.name == prop.name
            assert definition.read_only == (prop.read_only or prop.calculated)


def test_from_hubspot_json_by_hand() -> None:
    body = {
        "name": "interests",
        "type": "enumeration",
        "fieldType": "checkbox",
        "options": [{"label": "Golf", "value": "golf", "hidden": False}, {"value": "tennis"}],
        "modificationMetadata": {"readOnlyValue": False, "readOnlyDefinition": False, "archivable": True},
    }
    definition = PropertyDefinition.from_hubspot(body)
    assert definition == PropertyDefinition(
        "interests", "enumeration", "checkbox", ("golf", "tennis"), ("Golf", "tennis")
    )
    assert definition.multi_select
    assert PropertyDefinition.from_hubspot({"name": "phone", "type": "phone_number"}).type == "string"
    assert PropertyDefinition.from_hubspot({"name": "x", "type": "number", "calculated": True}).read_only


@pytest.mark.parametrize(
    "body",
    [
        {"type": "string"},
        {"name": "x"},
        {"name": "x", "type": "blob"},
        {"name": "x", "type": "enumeration", "options": "a;b"},
        {"name": "x", "type": "enumeration", "options": [{"label": "A"}]},
    ],
)
def test_from_hubspot_json_rejects_malformed(body: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PropertyDefinition.from_hubspot(body)
