"""Mapping HubSpot webhook events and records to ``hubspot_change_event`` Avro values."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import fastavro.validation
import pytest

from hubsync.avro import SchemaRepository
from hubsync.connectors.hubspot.sources.change_events import (
    InvalidChangeEventError,
    UnknownSubscriptionTypeError,
    event_key,
    from_record,
    from_webhook,
)
from hubsync.errors import SkippableRecordError

RECEIVED = 1_764_000_000_000
SCHEMA = SchemaRepository().current("hubspot_change_event")


def base(subscription_type: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": 100,
        "subscriptionId": 4100103,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1_763_999_999_000,
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": 501,
        "changeSource": "CRM_UI",
        "sourceId": "userId:7",
    }
    event.update(extra)
    return event


def encodes(value: dict[str, Any]) -> dict[str, Any]:
    """Every mapped value must be valid Avro for the schema (strict: no extra or missing fields)."""
    fastavro.validation.validate(value, SCHEMA.parsed, raise_errors=True, strict=True)
    fastavro.schemaless_writer(io.BytesIO(), SCHEMA.parsed, value)
    return value


@pytest.mark.parametrize(
    ("subscription_type", "role", "object_type", "change_type"),
    [
        ("contact.creation", "hubspot_contacts", "CONTACT", "CREATION"),
        ("contact.deletion", "hubspot_contacts", "CONTACT", "DELETION"),
        ("contact.restore", "hubspot_contacts", "CONTACT", "RESTORE"),
        ("contact.privacyDeletion", "hubspot_contacts", "CONTACT", "PRIVACY_DELETION"),
        ("company.creation", "hubspot_companies", "COMPANY", "CREATION"),
        ("company.deletion", "hubspot_companies", "COMPANY", "DELETION"),
        ("company.restore", "hubspot_companies", "COMPANY", "RESTORE"),
    ],
)
def test_simple_types(subscription_type: str, role: str, object_type: str, change_type: str) -> None:
    message = from_webhook(base(subscription_type), received_at_ms=RECEIVED)
    assert message.role == role
    assert message.key == "62515:501"  # <portal>:<object id>
    value = encodes(message.value)
    assert value["object_type"] == object_type
    assert value["change_type"] == change_type
    assert value["source"] == "WEBHOOK"
    assert value["occurred_at"] == 1_763_999_999_000
    assert value["received_at"] == RECEIVED
    assert value["portal_id"] == 62515
    assert value["change_source"] == "CRM_UI"
    assert value["source_id"] == "userId:7"
    assert value["partial"] is True
    assert value["properties"] == {}
    assert value["archived"] is (change_type == "DELETION")
    assert value["event_id"] == event_key(base(subscription_type)).hex()


def test_property_change_is_partial_with_timestamp() -> None:
    event = base("contact.propertyChange", propertyName="firstname", propertyValue="Ann")
    value = encodes(from_webhook(event, received_at_ms=RECEIVED).value)
    assert value["change_type"] == "PROPERTY_CHANGE"
    assert value["partial"] is True
    assert value["properties"] == {"firstname": "Ann"}
    assert value["property_timestamps"] == {"firstname": 1_763_999_999_000}


def test_property_change_cleared_and_missing_value() -> None:
    cleared = from_webhook(
        base("company.propertyChange", propertyName="city", propertyValue=""), received_at_ms=1
    )
    assert cleared.value["properties"] == {"city": ""}
    absent = from_webhook(base("company.propertyChange", propertyName="city"), received_at_ms=1)
    assert absent.value["properties"] == {"city": None}
    with pytest.raises(InvalidChangeEventError, match="propertyName"):
        from_webhook(base("company.propertyChange"), received_at_ms=1)


def test_merge() -> None:
    event = base(
        "contact.merge", objectId=501, primaryObjectId=501, mergedObjectIds=[502, "503"], newObjectId=501
    )
    value = encodes(from_webhook(event, received_at_ms=RECEIVED).value)
    assert value["merge"] == {
        "primary_object_id": "501",
        "merged_object_ids": ["502", "503"],
        "new_object_id": "501",
    }
    no_object = {k: v for k, v in event.items() if k != "objectId"}
    assert from_webhook(no_object, received_at_ms=1).key == "62515:501"
    with pytest.raises(InvalidChangeEventError, match="mergedObjectIds"):
        from_webhook(base("contact.merge", primaryObjectId=1), received_at_ms=1)


def test_association_change() -> None:
    event = base(
        "contact.associationChange",
        associationType="CONTACT_TO_COMPANY",
        fromObjectId=501,
        toObjectId=77,
        associationRemoved=True,
        isPrimaryAssociation=True,
    )
    del event["objectId"]
    message = from_webhook(event, received_at_ms=RECEIVED)
    assert message.key == "62515:501"  # <portal>:<object id>
    assert encodes(message.value)["association"] == {
        "from_object_type": "CONTACT",
        "from_object_id": "501",
        "to_object_type": "COMPANY",
        "to_object_id": "77",
        "removed": True,
        "is_primary": True,
    }
    with pytest.raises(UnknownSubscriptionTypeError, match="CONTACT_TO_DEAL"):
        from_webhook({**event, "associationType": "CONTACT_TO_DEAL"}, received_at_ms=1)


@pytest.mark.parametrize("subscription_type", ["deal.creation", "contact.somethingNew", "ticket", "company."])
def test_unknown_types_are_skippable(subscription_type: str) -> None:
    with pytest.raises(UnknownSubscriptionTypeError) as info:
        from_webhook(base(subscription_type), received_at_ms=1)
    assert isinstance(info.value, SkippableRecordError)
    assert subscription_type in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subscriptionType": None}, "subscriptionType"),
        ({"objectId": None}, "objectId is missing"),
        ({"objectId": -1}, "objectId"),
        ({"objectId": True}, "objectId"),
        ({"objectId": "12a"}, "objectId"),
        ({"occurredAt": None}, "occurredAt is missing"),
        ({"occurredAt": 1.5}, "occurredAt"),
        ({"occurredAt": 2**64}, "occurredAt"),
        ({"portalId": 2**64}, "portalId"),
        ({"changeSource": {"x": 1}}, "changeSource"),
    ],
)
def test_invalid_fields(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidChangeEventError, match=message):
        from_webhook(base("contact.creation", **change), received_at_ms=1)


def test_not_an_object() -> None:
    with pytest.raises(InvalidChangeEventError, match="list"):
        from_webhook([], received_at_ms=1)  # type: ignore[arg-type]


def test_event_key_covers_the_documented_fields() -> None:
    event = base("contact.propertyChange", propertyName="email", propertyValue="a@b.c")
    key = event_key(event)
    assert len(key) == 16
    assert event_key({**event, "attemptNumber": 3, "propertyValue": "x"}) == key  # a retry is the same event
    assert event_key({**event, "objectId": "501", "eventId": "100"}) == key  # numbers == their strings
    for field, other in [
        ("portalId", 1),
        ("subscriptionId", 2),
        ("eventId", 3),
        ("objectId", 4),
        ("occurredAt", 5),
        ("propertyName", "lastname"),
    ]:
        assert event_key({**event, field: other}) != key, field


def test_from_record_contact_snapshot() -> None:
    record = {
        "id": "501",
        "properties": {"email": "ann@acme.com", "firstname": "Ann", "phone": None},
        "propertiesWithHistory": {
            "firstname": [
                {"value": "Ann", "timestamp": "2025-01-02T03:04:05.678Z", "sourceType": "CRM_UI"},
                {"value": "Anne", "timestamp": "2024-01-01T00:00:00Z", "sourceType": "API"},
            ],
            "jobtitle": [{"value": "CTO", "timestamp": "2025-01-01T00:00:00.000Z"}],
        },
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2025-01-02T03:04:05.678Z",
        "archived": False,
        "associations": {
            "companies": {"results": [{"id": "77", "type": "contact_to_company"}, {"id": "77"}]}
        },
    }
    value = encodes(from_record("contact", record, source="POLLER", received_at_ms=RECEIVED))
    assert value["change_type"] == "SNAPSHOT"
    assert value["source"] == "POLLER"
    assert value["object_type"] == "CONTACT"
    assert value["partial"] is False
    assert value["updated_at"] == 1_735_787_045_678
    assert value["occurred_at"] == value["updated_at"]
    assert value["created_at"] == 1_704_067_200_000
    assert value["event_id"] == "501:1735787045678"
    assert value["properties"] == {
        "email": "ann@acme.com",
        "firstname": "Ann",
        "phone": None,
        "jobtitle": "CTO",
    }
    assert value["property_timestamps"] == {"firstname": 1_735_787_045_678, "jobtitle": 1_735_689_600_000}
    assert value["associated_company_ids"] == ["77"]


def test_from_record_company_and_errors() -> None:
    record = {"id": 9, "properties": {"hs_lastmodifieddate": "2025-01-02T00:00:00Z"}, "archived": True}
    value = encodes(from_record("COMPANIES", record, source="BACKFILL", received_at_ms=RECEIVED))
    assert value["object_type"] == "COMPANY"
    assert value["archived"] is True
    assert value["updated_at"] == 1_735_776_000_000
    with pytest.raises(InvalidChangeEventError, match="object type"):
        from_record("deal", record, source="POLLER", received_at_ms=1)
    with pytest.raises(ValueError, match="source"):
        from_record("company", record, source="SOMEWHERE", received_at_ms=1)
    with pytest.raises(InvalidChangeEventError, match="id is missing"):
        from_record("company", {"properties": {}}, source="POLLER", received_at_ms=1)
    with pytest.raises(InvalidChangeEventError, match="updatedAt"):
        from_record("company", {"id": "1", "updatedAt": "yesterday"}, source="POLLER", received_at_ms=1)
