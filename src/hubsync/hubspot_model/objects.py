"""HubSpot's CRM object types, by the names its API uses for them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

#: an object type as the CRM v3 paths name it (``/crm/v3/objects/contacts``)
HubSpotObjectType = Literal["contacts", "companies"]
#: an object type as HubSpot's singular names it (property definitions, webhook subscriptions)
HubSpotObjectName = Literal["contact", "company"]

#: singular name -> path name
PLURAL: Mapping[HubSpotObjectName, HubSpotObjectType] = {"contact": "contacts", "company": "companies"}
#: path name -> singular name
SINGULAR: Mapping[HubSpotObjectType, HubSpotObjectName] = {"contacts": "contact", "companies": "company"}
#: HubSpot's numeric object type ids (``0-1`` contacts, ``0-2`` companies)
OBJECT_TYPE_IDS: Mapping[HubSpotObjectName, str] = {"contact": "0-1", "company": "0-2"}
#: the property that holds a record's last modification time, per object type
MODIFIED_PROPERTY: Mapping[HubSpotObjectName, str] = {
    "contact": "lastmodifieddate",
    "company": "hs_lastmodifieddate",
}
#: the same, by the path name of the object type
MODIFIED_PROPERTY_OF_TYPE: Mapping[HubSpotObjectType, str] = {
    plural: MODIFIED_PROPERTY[singular] for singular, plural in PLURAL.items()
}
