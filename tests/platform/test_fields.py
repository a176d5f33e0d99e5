"""Pure field handling: names, conversion, derived columns (the same as the ingest path's)."""

from __future__ import annotations

import pytest

from hubsync.mapping.values import PropertyDefinition
from hubsync.matching.record_keys import derived_values, keys_of
from hubsync.platform.errors import InvalidField, InvalidFieldValue
from hubsync.platform.fields import (
    changes,
    check_field_name,
    convert_fields,
    convert_value,
    derived_columns,
    prospect_keys,
    record_keys,
)

DEFS = {
    "numberofemployees": PropertyDefinition("numberofemployees", "number"),
    "industry": PropertyDefinition(
        "industry", "enumeration", "select", ("COMPUTER_SOFTWARE",), ("Software",)
    ),
    "createdate": PropertyDefinition("createdate", "datetime", read_only=True),
}


@pytest.mark.parametrize(
    "name",
    [
        "Email",
        "first-name",
        "",
        "1abc",
        "a b",
        "hubsync_record_id",
        "hs_object_id",
        "jobtitle'; DROP TABLE hubsync.contacts_all; --",
        'x"); DELETE FROM hubsync.outbox_all; --',
        "job\x00title",
    ],
)
def test_bad_field_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidField):
        check_field_name(name)


def test_mapped_fields_are_converted_and_unmapped_kept_as_given() -> None:
    out = convert_fields(
        {"numberofemployees": " 250.0 ", "industry": "software", "notes": " anything ", "city": ""},
        mapped={"numberofemployees", "industry", "city"},
        definitions={**DEFS, "city": PropertyDefinition("city", "string")},
    )
    assert out == {
        "numberofemployees": "250",
        "industry": "COMPUTER_SOFTWARE",
        "notes": " anything ",
        "city": None,
    }


def test_invalid_values_and_missing_definitions_are_clear_errors() -> None:
    with pytest.raises(InvalidFieldValue, match=r"numberofemployees.*not a number"):
        convert_fields({"numberofemployees": "many"}, {"numberofemployees"}, DEFS)
    with pytest.raises(InvalidFieldValue, match=r"industry.*allowed options"):
        convert_fields({"industry": "Farming"}, {"industry"}, DEFS)
    with pytest.raises(InvalidFieldValue, match="read-only"):
        convert_value("createdate", "2026-01-01", DEFS["createdate"])
    with pytest.raises(InvalidFieldValue, match="no HubSpot property definition"):
        convert_fields({"custom_score": "1"}, {"custom_score"}, DEFS)


def test_changes_lists_only_differing_values() -> None:
    assert changes({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": None, "d": "4"}) == {
        "b": ("2", "3"),
        "d": (None, "4"),
    }


@pytest.mark.parametrize(
    ("kind", "props"),
    [
        (
            "contact",
            {"email": "Jane.Doe+x@Acme.co.uk", "firstname": "Jané", "lastname": "Doe", "company": "Acme Ltd"},
        ),
        ("contact", {"email": "jane@gmail.com", "hs_additional_emails": "j@acme.com;k@b.org"}),
        ("contact", {"jobtitle": "CTO"}),
        ("account", {"name": "Acme, Inc.", "domain": "www.acme.co.uk"}),
        ("account", {"industry": "COMPUTER_SOFTWARE"}),
    ],
)
def test_derived_columns_match_the_ingest_derivation(kind: str, props: dict[str, str | None]) -> None:
    keys = record_keys(kind, props)  # type: ignore[arg-type]
    assert keys == keys_of(kind, props)  # type: ignore[arg-type]
    ingest = derived_values(kind, props, keys)  # type: ignore[arg-type]
    assert tuple(derived_columns(kind, props, keys).values()) == ingest  # type: ignore[arg-type]


def test_prospect_keys() -> None:
    contact = record_keys("contact", {"email": "Jane@Acme.com", "hs_additional_emails": "j@acme.org"})
    assert prospect_keys("contact", contact) == ({"jane@acme.com", "j@acme.org"}, set())
    assert prospect_keys("account", record_keys("account", {"domain": "www.acme.com"})) == (
        set(),
        {"acme.com"},
    )
    assert prospect_keys("account", record_keys("account", {"name": "Acme"})) == (set(), set())
