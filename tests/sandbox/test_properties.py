"""PropertyRegistry: defaults, custom properties, value validation and custom rules."""

from __future__ import annotations

import json

import pytest

from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.properties import PropertyRegistry, ValidationRule


@pytest.fixture
def registry() -> PropertyRegistry:
    return PropertyRegistry()


def _codes(error: HubSpotApiError) -> dict[str, str | None]:
    return {e.location or "": e.code for e in error.errors}


def test_defaults(registry: PropertyRegistry) -> None:
    contact = {p.name for p in registry.definitions("contact")}
    assert {
        "email",
        "firstname",
        "lifecyclestage",
        "hs_lead_status",
        "hs_additional_emails",
        "lastmodifieddate",
    } <= contact
    company = {p.name for p in registry.definitions("company")}
    assert {"name", "domain", "industry", "hs_lastmodifieddate", "hs_merged_object_ids"} <= company
    assert "NEW" in registry.get("contact", "hs_lead_status").option_values
    assert registry.get("contact", "hs_object_id").calculated
    with pytest.raises(HubSpotApiError) as error:
        registry.get("contact", "nope")
    assert error.value.status == 404


def test_normalisation(registry: PropertyRegistry) -> None:
    assert registry.validate(
        "company",
        {
            "numberofemployees": "1e3",
            "annualrevenue": 12.5,
            "is_public": "TRUE",
            "industry": "RETAIL",
            "name": "",
        },
        creating=True,
    ) == {
        "numberofemployees": "1000",
        "annualrevenue": "12.5",
        "is_public": "true",
        "industry": "RETAIL",
        "name": None,
    }
    assert registry.validate(
        "contact", {"email": " Mixed@Case.COM ", "date_of_birth": "946684800000"}, creating=True
    ) == {
        "email": "mixed@case.com",
        "date_of_birth": "2000-01-01",
    }


def test_invalid_values_report_every_property(registry: PropertyRegistry) -> None:
    with pytest.raises(HubSpotApiError) as error:
        registry.validate(
            "company",
            {
                "numberofemployees": "many",
                "is_public": "maybe",
                "industry": "SPACE",
                "hs_object_id": "1",
                "zzz": "1",
            },
            creating=True,
        )
    assert error.value.status == 400 and error.value.category == "VALIDATION_ERROR"
    assert _codes(error.value) == {
        "numberofemployees": "INVALID_NUMBER",
        "is_public": "INVALID_BOOLEAN",
        "industry": "INVALID_OPTION",
        "hs_object_id": "READ_ONLY_VALUE",
        "zzz": "PROPERTY_DOESNT_EXIST",
    }
    listed = json.loads(error.value.message.removeprefix("Property values were not valid: "))
    assert {
        "isValid": False,
        "message": 'Property "zzz" does not exist',
        "error": "PROPERTY_DOESNT_EXIST",
        "name": "zzz",
    } in listed
    with pytest.raises(HubSpotApiError) as error:
        registry.validate("contact", {"email": "a@b", "date_of_birth": "946684800001"}, creating=False)
    assert _codes(error.value) == {"email": "INVALID_EMAIL", "date_of_birth": "INVALID_DATE"}


def test_read_only_allowed_for_trusted_writers(registry: PropertyRegistry) -> None:
    with pytest.raises(HubSpotApiError):
        registry.validate("contact", {"hs_additional_emails": "x@example.com"}, creating=True)
    cleaned = registry.validate(
        "contact",
        {"hs_additional_emails": "X@example.com;y@example.com"},
        creating=True,
        allow_read_only=True,
    )
    assert cleaned == {"hs_additional_emails": "x@example.com;y@example.com"}
    with pytest.raises(HubSpotApiError):
        registry.validate("contact", {"lastmodifieddate": "1"}, creating=True, allow_read_only=True)


def test_custom_rules(registry: PropertyRegistry) -> None:
    registry.add_rule(ValidationRule("contact", "jobtitle", "max_length", max_length=5))
    registry.add_rule(
        ValidationRule(
            "contact", "company", "forbidden_values", values=frozenset({"N/A"}), message="No placeholders"
        )
    )
    registry.add_rule(ValidationRule("contact", "lastname", "required"))
    registry.add_rule(ValidationRule("company", "domain", "regex", pattern=r"[a-z0-9.-]+\.[a-z]+"))
    with pytest.raises(HubSpotApiError) as error:
        registry.validate("contact", {"jobtitle": "Engineer", "company": "n/a"}, creating=True)
    assert _codes(error.value) == {
        "jobtitle": "INVALID_MAX_LENGTH",
        "company": "INVALID_VALUE",
        "lastname": "REQUIRED_PROPERTY_MISSING",
    }
    assert registry.validate("contact", {"jobtitle": "CTO"}, creating=False) == {"jobtitle": "CTO"}
    with pytest.raises(HubSpotApiError):
        registry.validate("contact", {"lastname": ""}, creating=False)
    with pytest.raises(HubSpotApiError):
        registry.validate("company", {"domain": "not a domain"}, creating=True)
    registry.clear_rules()
    assert registry.validate("company", {"domain": "not a domain"}, creating=True)


def test_custom_property_lifecycle(registry: PropertyRegistry) -> None:
    prop = registry.create(
        "contact",
        {
            "name": "hubsync_record_id",
            "label": "Record",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        },
    )
    assert (
        prop.has_unique_value
        and not prop.hubspot_defined
        and registry.unique_properties("contact") == ["hubsync_record_id"]
    )
    for bad in (
        {
            "name": "hubsync_record_id",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
        {
            "name": "Bad Name",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
        {
            "name": "x1",
            "label": "x",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
        },
        {"name": "x2", "label": "x", "type": "string", "fieldType": "text", "groupName": "missing_group"},
        {"name": "x3", "label": "x"},
    ):
        with pytest.raises(HubSpotApiError):
            registry.create("contact", bad)
    registry.archive("contact", "hubsync_record_id")
    assert registry.find("contact", "hubsync_record_id") is None
    assert registry.get("contact", "hubsync_record_id", archived=True).archived
    with pytest.raises(HubSpotApiError):
        registry.archive("contact", "email")
    registry.reset()
    assert registry.definitions("contact", archived=True) == []
