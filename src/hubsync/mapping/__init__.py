"""Field mapping between the platform and HubSpot: value conversion and validation per property type,
the autofill/overwrite rules, and the mappings and prospects they read.

:mod:`hubsync.mapping.definitions` (the property-definition cache, refreshed through the HubSpot
client) is not re-exported here, so importing the pure parts never imports the HTTP client.
"""

from __future__ import annotations

from hubsync.mapping.rules import (
    Mapping,
    MappingDecision,
    MappingOutcome,
    RejectedValue,
    decide,
    prospect_values,
)
from hubsync.mapping.store import MappingTable, ProspectIndex, load_mappings, load_prospects
from hubsync.mapping.values import (
    InvalidPropertyValue,
    PropertyDefinition,
    PropertyType,
    from_hubspot,
    to_hubspot,
    values_differ,
)

__all__ = [
    "InvalidPropertyValue",
    "Mapping",
    "MappingDecision",
    "MappingOutcome",
    "MappingTable",
    "PropertyDefinition",
    "PropertyType",
    "ProspectIndex",
    "RejectedValue",
    "decide",
    "from_hubspot",
    "load_mappings",
    "load_prospects",
    "prospect_values",
    "to_hubspot",
    "values_differ",
]
