"""One realistic value per schema, used by the codec, compatibility and Kafka round-trip tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC)
T1 = datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC)

SAMPLES: dict[str, dict[str, Any]] = {
    "hubspot_change_event": {
        "event_id": "wh:5b1e0c",
        "object_type": "CONTACT",
        "object_id": "1501",
        "change_type": "PROPERTY_CHANGE",
        "source": "WEBHOOK",
        "occurred_at": T0,
        "received_at": T1,
        "portal_id": 62515,
        "updated_at": T0,
        "created_at": None,
        "archived": False,
        "partial": True,
        "properties": {"jobtitle": "Head of RevOps", "phone": None},
        "property_timestamps": {"jobtitle": T0},
        "change_source": "CRM_UI",
        "source_id": "userId:1234",
        "associated_company_ids": [],
        "merge": None,
        "association": None,
    },
    "platform_change_event": {
        "event_id": "0d6b1e84-3c5a-4f57-9d51-3c1f3f6a2b10",
        "object_type": "ACCOUNT",
        "record_id": 42,
        "change_type": "MAPPED_VALUES",
        "occurred_at": T0,
        "hubspot_id": "9001",
        "changed_fields": {"industry": "COMPUTER_SOFTWARE", "numberofemployees": "250"},
        "field_rules": {"industry": "autofill", "numberofemployees": "overwrite"},
        "field_timestamps": {"industry": T0},
        "manual": False,
        "merged_into_id": None,
        "cause_event": "hubspot.companies.changes/3/1200",
        "portal_id": 62515,
    },
    "crm_contact": {
        "record_id": 7,
        "portal_id": 62515,
        "hubspot_id": "1501",
        "crm_status": "SYNCED",
        "creation_source": "HUBSPOT",
        "email": "ana.lima@example.com",
        "additional_emails": ["ana@example.org"],
        "first_name": "Ana",
        "last_name": "Lima",
        "properties": {"jobtitle": "CFO", "city": None},
        "account_ids": [3],
        "primary_account_id": 3,
        "potential_duplicate_ids": [11],
        "merged_into_id": None,
        "erased": False,
        "hubspot_updated_at": T0,
        "updated_at": T1,
        "deleted_at": None,
    },
    "crm_account": {
        "record_id": 3,
        "portal_id": 62515,
        "hubspot_id": "9001",
        "crm_status": "DELETED_IN_CRM",
        "creation_source": "PLATFORM",
        "name": "Acme GmbH",
        "domain": "www.acme.co.uk",
        "domain_root": "acme.co.uk",
        "properties": {"industry": "MACHINERY"},
        "contact_ids": [7],
        "potential_duplicate_ids": [],
        "merged_into_id": None,
        "hubspot_updated_at": None,
        "updated_at": T1,
        "deleted_at": None,
    },
    "push_error": {
        "error_id": 12,
        "object_type": "CONTACT",
        "record_id": 7,
        "hubspot_id": None,
        "operation": "CREATE",
        "http_status": 207,
        "category": "VALIDATION_ERROR",
        "sub_category": None,
        "message": 'Property values were not valid: [{"isValid":false,"message":"Email address is invalid"}]',
        "correlation_id": "3a7d5c1e-11f4-4b8e-9a6c-1f2e3d4c5b6a",
        "context": {"properties": ["email"]},
        "errors": [
            {
                "message": "Email address is invalid",
                "code": "INVALID_EMAIL",
                "sub_category": None,
                "location": "email",
                "context": {},
            }
        ],
        "payload_json": '{"properties":{"email":"not-an-email"}}',
        "attempts": 1,
        "first_seen": T0,
        "last_seen": T1,
        "record_status": 400,
        "portal_id": 62515,
    },
    "dead_letter": {
        "source_topic": "hubspot.contacts.changes",
        "source_partition": 2,
        "source_offset": 1042,
        "stage": "DECODE",
        "error_type": "UndecodableMessageError",
        "error_message": "not Avro single-object encoded",
        "failed_at": T1,
        "original_key": b"1501",
        "original_value": b"\x00garbage",
        "original_timestamp": T0,
    },
}


def as_ms(value: Any) -> Any:
    """``value`` with every aware datetime as Unix ms: what ``plain`` decoding gives, and what the
    compiled codec encodes."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: as_ms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_ms(v) for v in value]
    return value
