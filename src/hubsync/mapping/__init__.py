"""Field mapping between the platform and HubSpot: value conversion and validation per property type."""

from __future__ import annotations

from .values import (
    InvalidPropertyValue,
    PropertyDefinition,
    PropertyType,
    from_hubspot,
    to_hubspot,
    values_differ,
)

__all__ = [
    "InvalidPropertyValue",
    "PropertyDefinition",
    "PropertyType",
    "from_hubspot",
    "to_hubspot",
    "values_differ",
]
