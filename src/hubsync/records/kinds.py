"""The platform's record kinds, their tables, and the HubSpot object type each one mirrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from hubsync.hubspot_model.objects import HubSpotObjectType

#: a platform record's kind: a person (a HubSpot contact) or an organization (a HubSpot company)
ObjectKind = Literal["contact", "account"]

#: the PostgreSQL table of each kind
RECORD_TABLES: Mapping[ObjectKind, str] = {"contact": "hubsync.contacts", "account": "hubsync.accounts"}

#: the HubSpot object type each kind mirrors, as the CRM API paths name it
HUBSPOT_TYPES: Mapping[ObjectKind, HubSpotObjectType] = {"contact": "contacts", "account": "companies"}
#: the kind mirroring each HubSpot object type
KIND_OF_HUBSPOT_TYPE: Mapping[HubSpotObjectType, ObjectKind] = {"contacts": "contact", "companies": "account"}

#: the HubSpot property (unique-value, created by the push path) holding the platform record id of
#: a record hubsync created in HubSpot: pushes upsert on it, and ingest links a record by it
RECORD_ID_PROPERTY = "hubsync_record_id"
