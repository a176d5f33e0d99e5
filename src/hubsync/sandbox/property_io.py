"""Property definitions to and from the JSON of HubSpot's Properties v3 API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from hubsync.hubspot_model.properties import Option, Property, PropertyGroup, PropertyType
from hubsync.sandbox.errors import ErrorDetail, validation_error
from hubsync.sandbox.timefmt import iso_ms

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "html", "file", "phonenumber"}),
    "phone_number": frozenset({"phonenumber", "text"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox"}),
}
_HINTS = (
    "textDisplayHint",
    "numberDisplayHint",
    "showCurrencySymbol",
    "currencyPropertyName",
    "referencedObjectType",
    "calculationFormula",
    "dataSensitivity",
)


_REQUIRED = ("name", "label", "type", "fieldType", "groupName")
#: the enumerated hints and their values (PropertyCreate in HubSpot's Properties v3 OpenAPI file)
_HINT_VALUES: dict[str, frozenset[str]] = {
    "textDisplayHint": frozenset(
        {
            "domain_name",
            "email",
            "ip_address",
            "multi_line",
            "phone_number",
            "physical_address",
            "postal_code",
            "unformatted_single_line",
        }
    ),
    "numberDisplayHint": frozenset(
        {"currency", "duration", "formatted", "percentage", "probability", "unformatted"}
    ),
    "dataSensitivity": frozenset({"highly_sensitive", "non_sensitive", "sensitive"}),
}


def _hint(key: str, value: object) -> object:
    """A display hint as given, if it has the type (and, for enumerated ones, a value) HubSpot knows."""
    if key == "showCurrencySymbol":
        if not isinstance(value, bool):
            raise _field_error(key, f"{key} must be true or false, got {value!r}")
        return value
    if not isinstance(value, str) or (key in _HINT_VALUES and value not in _HINT_VALUES[key]):
        allowed = f" one of {sorted(_HINT_VALUES[key])}" if key in _HINT_VALUES else " a string"
        raise _field_error(key, f"{key} must be{allowed}, got {value!r}")
    return value


def _field_error(name: str, message: str) -> Exception:
    return validation_error(
        message, errors=[ErrorDetail(message=message, code="INVALID_PROPERTY", location=name)]
    )


def _int_field(body: Mapping[str, object], key: str, default: int) -> int:
    """An int32 field (``displayOrder``): a JSON integer, or HubSpot's 400."""
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise _field_error(key, f"{key} must be a 32-bit integer, got {value!r}")
    return value


def _bool_field(body: Mapping[str, object], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _field_error(key, f"{key} must be true or false, got {value!r}")
    return value


def _str_field(body: Mapping[str, object], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _field_error(key, f"{key} must be a string, got {value!r}")
    return value


def _options(raw: object) -> tuple[Option, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _field_error("options", "options must be an array")
    result = []
    for i, item in enumerate(raw):
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("value"), str)
            or not isinstance(item.get("label"), str)
        ):
            raise _field_error("options", "each option needs a label and a value (strings)")
        result.append(
            Option(
                label=item["label"],
                value=item["value"],
                display_order=_int_field(item, "displayOrder", i),
                hidden=_bool_field(item, "hidden", False),
                description=_str_field(item, "description"),
            )
        )
    return tuple(result)


def property_from_json(body: Mapping[str, object], *, base: Property | None = None) -> Property:
    """A :class:`Property` from a ``PropertyCreate`` (or, with ``base``, ``PropertyUpdate``) body."""
    missing = [k for k in _REQUIRED if not body.get(k)]
    for key in _REQUIRED:
        if key not in missing and not isinstance(body[key], str):
            raise _field_error(key, f"{key} must be a string")
    if missing:
        raise validation_error(
            f"Missing required fields: {', '.join(missing)}",
            errors=[
                ErrorDetail(message=f"{k} is required", code="REQUIRED_FIELD", location=k) for k in missing
            ],
        )
    name, kind, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
    if not _NAME.match(name):
        raise _field_error("name", f"Property name '{name}' is invalid: use lowercase letters, digits and _")
    if kind not in _FIELD_TYPES:
        raise _field_error("type", f"Property type '{kind}' is not one of {sorted(_FIELD_TYPES)}")
    if field_type not in _FIELD_TYPES[kind]:
        raise _field_error("fieldType", f"fieldType '{field_type}' is not valid for property type '{kind}'")
    options = _options(body.get("options"))
    if kind == "bool" and not options:
        options = (Option("Yes", "true", 0), Option("No", "false", 1))
    if kind == "enumeration" and not options and not body.get("externalOptions"):
        raise _field_error("options", f"Enumeration property '{name}' needs at least one option")
    extra: dict[str, object] = dict(base.extra) if base else {}
    extra.update({k: _hint(k, body[k]) for k in _HINTS if k in body})
    template = base or Property(name=name, label="", type="string", field_type="text", group_name="")
    return replace(
        template,
        name=name,
        label=str(body["label"]),
        type=cast(PropertyType, kind),
        field_type=field_type,
        group_name=str(body["groupName"]),
        options=options,
        description=_str_field(body, "description"),
        display_order=_int_field(body, "displayOrder", template.display_order),
        has_unique_value=_bool_field(body, "hasUniqueValue", template.has_unique_value),
        hidden=_bool_field(body, "hidden", template.hidden),
        form_field=_bool_field(body, "formField", template.form_field),
        external_options=_bool_field(body, "externalOptions", template.external_options),
        extra=extra,
    )


def option_to_json(option: Option) -> dict[str, Any]:
    return {
        "label": option.label,
        "value": option.value,
        "displayOrder": option.display_order,
        "hidden": option.hidden,
        "description": option.description,
    }


def property_to_json(prop: Property) -> dict[str, Any]:
    """The ``Property`` schema of the Properties v3 API."""
    body: dict[str, Any] = {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group_name,
        "options": [option_to_json(o) for o in prop.options],
        "displayOrder": prop.display_order,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden,
        "hubspotDefined": prop.hubspot_defined,
        "formField": prop.form_field,
        "archived": prop.archived,
        "dataSensitivity": "non_sensitive",
        "modificationMetadata": {
            "archivable": not prop.hubspot_defined,
            "readOnlyDefinition": prop.hubspot_defined,
            "readOnlyValue": prop.read_only or prop.calculated,
            "readOnlyOptions": prop.hubspot_defined and prop.type != "enumeration",
        },
    }
    body.update({k: v for k, v in prop.extra.items() if k in _HINTS})
    if prop.created_ms:
        body["createdAt"] = iso_ms(prop.created_ms)
    if prop.updated_ms:
        body["updatedAt"] = iso_ms(prop.updated_ms)
    if prop.archived:
        body["archivedAt"] = iso_ms(prop.updated_ms)
    return body


def group_to_json(group: PropertyGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "label": group.label,
        "displayOrder": group.display_order,
        "archived": group.archived,
    }


def group_from_json(body: Mapping[str, object], *, base: PropertyGroup | None = None) -> PropertyGroup:
    name = body.get("name", base.name if base else None)
    label = body.get("label", base.label if base else None)
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(label, str) or not label:
        raise validation_error("A property group needs a valid name and a label")
    order = _int_field(body, "displayOrder", base.display_order if base else -1)
    return PropertyGroup(name=name, label=label, display_order=order)
