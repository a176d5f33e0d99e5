"""Autofill and overwrite: which prospect values the platform writes to HubSpot (pure, no I/O).

SPEC section 1, "Field mapping". Per mapped HubSpot property of a pulled record:

- mode ``none``: nothing (HubSpot's value is only mirrored, elsewhere);
- mode ``autofill``: when HubSpot's value is empty (``None``, ``""`` or whitespace only) and the
  matched prospect has a non-empty value, write the prospect's value;
- mode ``overwrite``: when the matched prospect has a non-empty value that differs
  (:func:`~hubsync.mapping.values.values_differ`, so ``"10"`` equals ``10.0``) from HubSpot's,
  write it, also when HubSpot's is empty. An empty prospect value never clears HubSpot's.

Autofill and overwrite run **only when the platform pulls a record from HubSpot**: the ingest agent
calls :func:`decide` with the record's mirrored values after the pulled change, never on a
platform-side edit.

Every written value goes through :func:`~hubsync.mapping.values.to_hubspot` with the cached HubSpot
property definition. A value HubSpot would refuse (an invalid option, a malformed number, a
read-only property, no cached definition) becomes a :class:`RejectedValue` for the activity log,
never an exception, so one bad prospect value cannot stop a record's ingest.

Loop safety: a :class:`MappingDecision` is pushed to HubSpot, and HubSpot's change event for it
comes back through the pull with ``current[property] == decision.after`` (or a value equal to it
per ``values_differ``: HubSpot may echo ``"50.0"`` for ``"50"``). :func:`decide` then finds the
field non-empty (autofill) and equal to the prospect's converted value (overwrite), so it returns
no decision: the system quiesces after one round. The tests prove it for every rule.
"""

from __future__ import annotations

from collections import abc
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, cast

from hubsync.mapping.values import (
    InvalidPropertyValue,
    PlatformValue,
    PropertyDefinition,
    to_hubspot,
    values_differ,
)
from hubsync.records.kinds import ObjectKind
from hubsync.storage.defaults import MappingMode
from hubsync.storage.outbox import OutboxEvent

Rule = Literal["autofill", "overwrite"]
ProspectKind = Literal["people", "organizations"]

NO_DEFINITION = "no cached HubSpot property definition"
_SHOWN_VALUE_CHARS = 100


@dataclass(frozen=True, slots=True)
class Mapping:
    """One field mapping row (``hubsync.field_mappings``): a HubSpot property, where the platform
    keeps it, and its mode."""

    object_type: ObjectKind
    hubspot_property: str
    platform_field: str
    mode: MappingMode


@dataclass(frozen=True, slots=True)
class MappingDecision:
    """Write ``after`` (HubSpot's wire string, from ``to_hubspot``) to ``hubspot_property``.
    ``before`` is HubSpot's value it replaces, as mirrored (``None``: none), for lineage."""

    hubspot_property: str
    platform_field: str
    rule: Rule
    before: str | None
    after: str


@dataclass(frozen=True, slots=True)
class RejectedValue:
    """A prospect value the rule would have written but HubSpot's definition refuses.
    ``value`` is the prospect value as text (truncated to 100 characters)."""

    hubspot_property: str
    rule: Rule
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class MappingOutcome:
    """What :func:`decide` found, each tuple ordered by HubSpot property name."""

    decisions: tuple[MappingDecision, ...] = ()
    rejected: tuple[RejectedValue, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.decisions or self.rejected)

    def changed_fields(self) -> dict[str, str]:
        """HubSpot property -> value to write, as a push takes it."""
        return {d.hubspot_property: d.after for d in self.decisions}


def is_empty(value: object) -> bool:
    """No value: ``None``, a blank string or an empty list/tuple/set."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return not value
    return False


def decide(
    mappings: abc.Sequence[Mapping],
    current: abc.Mapping[str, str | None],
    prospect: abc.Mapping[str, object] | None,
    definitions: abc.Mapping[str, PropertyDefinition],
) -> MappingOutcome:
    """The values autofill and overwrite write to HubSpot for one pulled record.

    ``mappings``: the object type's mappings (modes other than autofill/overwrite are skipped).
    ``current``: HubSpot's values (wire strings) by property after the pulled change; a missing
    key is an empty value. ``prospect``: the matched prospect's values by HubSpot property
    (:func:`prospect_values`), ``None`` when nothing matched (then nothing is decided).
    ``definitions``: the cached HubSpot property definitions by name.

    Call it only for a record pulled from HubSpot (autofill and overwrite run only on pull). Loop
    safety: once the decisions are pushed and come back in the next pull, it returns nothing.
    """
    if prospect is None:
        return MappingOutcome()
    decisions: list[MappingDecision] = []
    rejected: list[RejectedValue] = []
    for mapping in sorted(mappings, key=lambda m: m.hubspot_property):
        if mapping.mode == MappingMode.AUTOFILL:
            rule: Rule = "autofill"
        elif mapping.mode == MappingMode.OVERWRITE:
            rule = "overwrite"
        else:
            continue
        name = mapping.hubspot_property
        before = current.get(name)
        value = prospect.get(name)
        if is_empty(value) or (rule == "autofill" and not is_empty(before)):
            continue
        definition = definitions.get(name)
        if definition is None:
            rejected.append(RejectedValue(name, rule, _shown(value), NO_DEFINITION))
            continue
        try:
            after = to_hubspot(definition, _platform_value(name, value))
        except InvalidPropertyValue as exc:
            rejected.append(RejectedValue(name, rule, _shown(value), exc.reason))
            continue
        if after == "" or not values_differ(definition, before, after):
            continue
        decisions.append(MappingDecision(name, mapping.platform_field, rule, before, after))
    return MappingOutcome(tuple(decisions), tuple(rejected))


def _platform_value(name: str, value: object) -> PlatformValue:
    """``value`` (typically decoded from jsonb) as a value ``to_hubspot`` takes, else rejected."""
    if isinstance(value, str | int | float | Decimal | bool | date | datetime | tuple | list):
        return cast(PlatformValue, value)
    raise InvalidPropertyValue(name, value, f"unsupported value type {type(value).__name__}")


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 1] + "…"


def prospect_values(kind: ProspectKind, row: abc.Mapping[str, object]) -> dict[str, object]:
    """A prospect row (``hubsync.prospect_people`` / ``prospect_organizations``, by column name)
    as values by HubSpot property name.

    people: ``attributes`` plus ``firstname``/``lastname`` (from ``first_name``/``last_name``) and
    ``email`` (from ``email_normalized``); organizations: ``attributes`` plus ``name`` and
    ``domain``. A non-null column wins over an attribute of the same name; a null column leaves
    the attribute (if any) in place.
    """
    raw_attributes = row.get("attributes")
    values: dict[str, object] = (
        {str(k): v for k, v in raw_attributes.items()} if isinstance(raw_attributes, abc.Mapping) else {}
    )
    columns = (
        {"firstname": "first_name", "lastname": "last_name", "email": "email_normalized"}
        if kind == "people"
        else {"name": "name", "domain": "domain"}
    )
    for prop, column in columns.items():
        value = row.get(column)
        if value is not None:
            values[prop] = value
    return values


def mapped_values_event(
    object_type: ObjectKind,
    record_id: int,
    hubspot_id: str | None,
    decisions: abc.Sequence[MappingDecision],
    occurred_at: datetime,
    cause_event: str | None,
) -> OutboxEvent:
    """The ``MAPPED_VALUES`` event for autofill/overwrite decisions of one pulled record:
    the values to write, the rule of each, ``occurred_at`` as every field's edit time."""
    return OutboxEvent(
        object_type="CONTACT" if object_type == "contact" else "ACCOUNT",
        record_id=record_id,
        change_type="MAPPED_VALUES",
        occurred_at=occurred_at,
        hubspot_id=hubspot_id,
        changed_fields={d.hubspot_property: d.after for d in decisions},
        field_rules={d.hubspot_property: d.rule for d in decisions},
        field_timestamps={d.hubspot_property: occurred_at for d in decisions},
        cause_event=cause_event,
    )
