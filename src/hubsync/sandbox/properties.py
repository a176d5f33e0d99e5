"""Property definitions (default + custom), value validation and configurable validation rules.

:meth:`PropertyRegistry.validate` answers like HubSpot: a 400 ``VALIDATION_ERROR`` whose message is
``Property values were not valid: [{"isValid":false,"message":...,"error":CODE,"name":...}]`` and
whose ``errors`` hold one :class:`ErrorDetail` per invalid property (``code``, ``in``, ``context``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.hubspot_model.properties import DEFAULT_GROUPS, DEFAULT_PROPERTIES, Property, PropertyGroup
from hubsync.sandbox.errors import ErrorDetail, HubSpotApiError, not_found, validation_error
from hubsync.sandbox.property_io import property_from_json, property_to_json
from hubsync.sandbox.timefmt import now_ms
from hubsync.sandbox.values import InvalidValue, normalize, to_wire_string

MAX_UNIQUE_PROPERTIES = 10
RuleKind = Literal["regex", "max_length", "forbidden_values", "required"]
_DEFAULT_CODES: dict[str, str] = {
    "regex": "INVALID_FORMAT",
    "max_length": "INVALID_MAX_LENGTH",
    "forbidden_values": "INVALID_VALUE",
    "required": "REQUIRED_PROPERTY_MISSING",
}


@dataclass(frozen=True)
class ValidationRule:
    """A portal's property validation rule (HubSpot enforces these on API writes since 2023).

    ``regex``: the value must fully match ``pattern``; ``max_length``: at most ``max_length``
    characters; ``forbidden_values``: the value (case-insensitive) must not be one of ``values``;
    ``required``: a create must set it and no write may clear it.
    """

    object_type: HubSpotObjectName
    property: str
    kind: RuleKind
    pattern: str | None = None
    max_length: int | None = None
    values: frozenset[str] = frozenset()
    message: str | None = None
    code: str | None = None
    _compiled: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def check(self, value: str | None, *, present: bool, creating: bool) -> InvalidValue | None:
        code = self.code or _DEFAULT_CODES[self.kind]
        if self.kind == "required":
            missing = (creating and not present) or (present and not value)
            return InvalidValue(code, self.message or f"{self.property} is required") if missing else None
        if not value:
            return None
        failed = (
            (self.kind == "regex" and self._compiled is not None and not self._compiled.fullmatch(value))
            or (self.kind == "max_length" and self.max_length is not None and len(value) > self.max_length)
            or (self.kind == "forbidden_values" and value.lower() in {v.lower() for v in self.values})
        )
        return (
            InvalidValue(code, self.message or f"{value} is not a valid value for {self.property}")
            if failed
            else None
        )


def property_errors(problems: Mapping[str, InvalidValue]) -> HubSpotApiError:
    """HubSpot's 400 for invalid property values."""
    listed = [
        {"isValid": False, "message": p.message, "error": p.code, "name": n} for n, p in problems.items()
    ]
    details = [
        ErrorDetail(message=p.message, code=p.code, location=n, context={"propertyName": [n]})
        for n, p in problems.items()
    ]
    return validation_error(
        "Property values were not valid: " + json.dumps(listed, separators=(",", ":")), errors=details
    )


class PropertyRegistry:
    """Property definitions per object type; custom ones can be created, updated and archived."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._props: dict[HubSpotObjectName, dict[str, Property]] = {}
        self._archived: dict[HubSpotObjectName, dict[str, Property]] = {}
        self._groups: dict[HubSpotObjectName, dict[str, PropertyGroup]] = {}
        self._rules: list[ValidationRule] = []
        #: names of the unique properties per object type, kept while no definition changes
        self._unique: dict[HubSpotObjectName, tuple[str, ...]] = {}
        self.reset()

    def reset(self) -> None:
        """Back to HubSpot's defaults: custom properties, groups and rules are dropped."""
        self._props = {t: {p.name: p for p in props} for t, props in DEFAULT_PROPERTIES.items()}
        self._archived = {t: {} for t in DEFAULT_PROPERTIES}
        self._groups = {t: {g.name: g for g in groups} for t, groups in DEFAULT_GROUPS.items()}
        self._rules = []
        self._unique.clear()

    # -- definitions -------------------------------------------------------------------------------

    def definitions(self, object_type: HubSpotObjectName, *, archived: bool = False) -> list[Property]:
        return list((self._archived if archived else self._props)[object_type].values())

    def find(self, object_type: HubSpotObjectName, name: str, *, archived: bool = False) -> Property | None:
        return (self._archived if archived else self._props)[object_type].get(name)

    def get(self, object_type: HubSpotObjectName, name: str, *, archived: bool = False) -> Property:
        prop = (self._archived if archived else self._props)[object_type].get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {object_type}")
        return prop

    def unique_properties(self, object_type: HubSpotObjectName) -> list[str]:
        return list(self.unique_names(object_type))

    def unique_names(self, object_type: HubSpotObjectName) -> tuple[str, ...]:
        """Names of the properties with unique values (every write checks them: kept, not rebuilt)."""
        names = self._unique.get(object_type)
        if names is None:
            names = tuple(p.name for p in self._props[object_type].values() if p.has_unique_value)
            self._unique[object_type] = names
        return names

    def create(self, object_type: HubSpotObjectName, definition: Mapping[str, object] | Property) -> Property:
        prop = definition if isinstance(definition, Property) else property_from_json(definition)
        if prop.name in self._props[object_type] or prop.name in self._archived[object_type]:
            raise HubSpotApiError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{prop.name}' already exists.",
                context={"name": [prop.name]},
            )
        if prop.group_name not in self._groups[object_type]:
            raise validation_error(f"Property group '{prop.group_name}' does not exist.")
        if prop.has_unique_value and len(self.unique_properties(object_type)) >= MAX_UNIQUE_PROPERTIES:
            raise validation_error(
                f"An object type can have at most {MAX_UNIQUE_PROPERTIES} unique properties."
            )
        ts = self._clock()
        prop = replace(prop, hubspot_defined=False, created_ms=ts, updated_ms=ts)
        self._props[object_type][prop.name] = prop
        self._unique.pop(object_type, None)
        return prop

    def update(self, object_type: HubSpotObjectName, name: str, changes: Mapping[str, object]) -> Property:
        current = self.get(object_type, name)
        if current.hubspot_defined and set(changes) - {"options", "label", "description", "displayOrder"}:
            raise validation_error(
                f"Property {name} is a HubSpot-defined property; its definition is read-only."
            )
        merged = property_from_json({**_definition_fields(current), **changes, "name": name}, base=current)
        updated = replace(merged, has_unique_value=current.has_unique_value, updated_ms=self._clock())
        self._props[object_type][name] = updated
        self._unique.pop(object_type, None)
        return updated

    def archive(self, object_type: HubSpotObjectName, name: str) -> None:
        prop = self.get(object_type, name)
        if prop.hubspot_defined:
            raise validation_error(f"Property {name} is a HubSpot-defined property and cannot be archived.")
        del self._props[object_type][name]
        self._archived[object_type][name] = replace(prop, archived=True, updated_ms=self._clock())
        self._unique.pop(object_type, None)

    # -- groups ------------------------------------------------------------------------------------

    def groups(self, object_type: HubSpotObjectName) -> list[PropertyGroup]:
        return list(self._groups[object_type].values())

    def group(self, object_type: HubSpotObjectName, name: str) -> PropertyGroup:
        group = self._groups[object_type].get(name)
        if group is None:
            raise not_found(f"Unable to find property group {name} for object type {object_type}")
        return group

    def put_group(
        self, object_type: HubSpotObjectName, group: PropertyGroup, *, create: bool
    ) -> PropertyGroup:
        if create and group.name in self._groups[object_type]:
            raise HubSpotApiError(
                409, "OBJECT_ALREADY_EXISTS", f"Property group named '{group.name}' already exists."
            )
        self._groups[object_type][group.name] = group
        return group

    def archive_group(self, object_type: HubSpotObjectName, name: str) -> None:
        self.group(object_type, name)
        if any(p.group_name == name for p in self._props[object_type].values()):
            raise validation_error(f"Property group {name} still has properties and cannot be archived.")
        del self._groups[object_type][name]

    # -- validation --------------------------------------------------------------------------------

    def add_rule(self, rule: ValidationRule) -> ValidationRule:
        compiled = re.compile(rule.pattern) if rule.kind == "regex" and rule.pattern else None
        rule = replace(rule, _compiled=compiled)
        self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        self._rules.clear()

    @property
    def rules(self) -> list[ValidationRule]:
        return list(self._rules)

    def validate(
        self,
        object_type: HubSpotObjectName,
        properties: Mapping[str, object],
        *,
        creating: bool,
        allow_read_only: bool = False,
    ) -> dict[str, str | None]:
        """Normalised values (``None`` clears a property) or a HubSpot-shaped 400 with every problem.

        ``allow_read_only`` admits stored read-only properties (``hs_additional_emails`` ...) for
        trusted writers such as seeding or simulated UI edits; calculated ones are never writable.
        """
        known = self._props[object_type]
        cleaned: dict[str, str | None] = {}
        problems: dict[str, InvalidValue] = {}
        for name, raw in properties.items():
            prop = known.get(name)
            try:
                if prop is None:
                    raise InvalidValue("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                if prop.calculated or (prop.read_only and not allow_read_only):
                    raise InvalidValue(
                        "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
                    )
                text = to_wire_string(raw)
                cleaned[name] = normalize(prop, text) if text not in (None, "") else None
            except InvalidValue as problem:
                problems[name] = problem
        for rule in self._rules:
            if rule.object_type != object_type or rule.property in problems:
                continue
            broken = rule.check(
                cleaned.get(rule.property), present=rule.property in cleaned, creating=creating
            )
            if broken is not None:
                problems[rule.property] = broken
        if problems:
            raise property_errors(problems)
        return cleaned

    def known_names(self, object_type: HubSpotObjectName) -> Iterable[str]:
        return self._props[object_type].keys()


def _definition_fields(prop: Property) -> dict[str, object]:
    return property_to_json(prop)
