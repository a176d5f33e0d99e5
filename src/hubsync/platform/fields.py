"""Platform-side field values (pure, no I/O): names, conversion, derived columns and keys.

Fields are HubSpot property names, as everywhere in hubsync (``properties`` of a record holds
them). A **mapped** field (a ``hubsync.field_mappings`` row for the object type, any mode) is
converted and validated by HubSpot's property definition (:func:`hubsync.mapping.values.to_hubspot`)
and stored as HubSpot's wire string, since it is what the push path sends. An **unmapped** field
never syncs: it is stored as given. An empty value (``None``, ``""``, whitespace) clears a field.

The columns the platform queries by (email, names, domain and the matching keys) are derived from
the properties exactly as the ingest path derives them (``hubsync.ingest.record_io``); the tests
compare both derivations.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from hubsync.mapping.values import InvalidPropertyValue, PlatformValue, PropertyDefinition, to_hubspot
from hubsync.matching.record_keys import DERIVED_COLUMNS, AccountKeys, ContactKeys, derived_values, keys_of
from hubsync.platform.errors import InvalidField, InvalidFieldValue
from hubsync.records.kinds import ObjectKind

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: properties HubSpot or hubsync own: the platform never writes them
RESERVED_FIELDS = frozenset({"hubsync_record_id", "hs_object_id"})


def check_field_name(name: str) -> None:
    """Raise :class:`InvalidField` unless ``name`` is a HubSpot property name the platform may write."""
    if not FIELD_NAME.fullmatch(name):
        raise InvalidField(
            f"field {name!r} is not a HubSpot property name (lower-case letters, digits and '_')"
        )
    if name in RESERVED_FIELDS:
        raise InvalidField(f"field {name!r} is owned by HubSpot/hubsync and cannot be written")


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert_value(name: str, value: PlatformValue, definition: PropertyDefinition | None) -> str | None:
    """``value`` as HubSpot's wire string (``None``: no value); :class:`InvalidFieldValue` when the
    definition refuses it or there is none."""
    if definition is None:
        raise InvalidFieldValue(name, "no HubSpot property definition is known for it")
    try:
        wire = to_hubspot(definition, value)
    except InvalidPropertyValue as exc:
        raise InvalidFieldValue(name, exc.reason) from None
    return None if wire == "" else wire


def convert_fields(
    fields: Mapping[str, str | None],
    mapped: Collection[str],
    definitions: Mapping[str, PropertyDefinition],
) -> dict[str, str | None]:
    """The values to store for ``fields``: mapped ones converted (every one checked before any is
    written), unmapped ones as given; empty values as ``None``."""
    out: dict[str, str | None] = {}
    for name, value in fields.items():
        check_field_name(name)
        if name in mapped:
            out[name] = None if is_empty(value) else convert_value(name, value, definitions.get(name))
        else:
            out[name] = None if is_empty(value) else value
    return out


def changes(
    current: Mapping[str, str | None], new: Mapping[str, str | None]
) -> dict[str, tuple[str | None, str | None]]:
    """Fields whose value differs: name -> (before, after), in ``new``'s order."""
    return {name: (current.get(name), value) for name, value in new.items() if current.get(name) != value}


def record_keys(kind: ObjectKind, properties: Mapping[str, str | None]) -> ContactKeys | AccountKeys:
    """The matching keys of a record's properties (as the ingest path computes them)."""
    return keys_of(kind, properties)


def derived_columns(
    kind: ObjectKind, properties: Mapping[str, str | None], keys: ContactKeys | AccountKeys
) -> dict[str, Any]:
    """The derived columns of a record, by column name (the ingest path's derivation)."""
    return dict(zip(DERIVED_COLUMNS[kind], derived_values(kind, properties, keys), strict=True))


def prospect_keys(kind: ObjectKind, keys: ContactKeys | AccountKeys) -> tuple[set[str], set[str]]:
    """(e-mail addresses, root domains) that :func:`hubsync.matching.prospects.mark_prospects` takes."""
    if kind == "contact":
        assert isinstance(keys, ContactKeys)
        return set(keys.emails), set()
    assert isinstance(keys, AccountKeys)
    return set(), ({keys.domain_root} if keys.domain_root else set())
