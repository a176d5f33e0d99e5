"""Sync settings and field-mapping modes, as ``hubsync settings`` shows and changes them.

Keys: ``push.enabled`` (a boolean: true/false, yes/no, on/off, 1/0), ``push.scope`` (``all`` or
``manual``) and ``mapping.<contact|account>.<hubspot_property>`` (``none``, ``autofill`` or
``overwrite``). Setting the mode of a property that has no mapping yet maps it, kept in the
record's ``properties`` under the property's name. Anything else is an :class:`InvalidSetting`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hubsync.mapping.rules import Mapping as FieldMapping
from hubsync.mapping.store import load_mappings
from hubsync.platform.errors import InvalidField, InvalidSetting
from hubsync.platform.fields import check_field_name
from hubsync.storage.config_versions import WorkerContext, mapping_version, worker_contexts
from hubsync.storage.defaults import MappingMode, PushScope, SyncSettings

__all__ = ["PlatformSettings", "get_settings", "parse_setting", "set_setting"]

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_KINDS = ("contact", "account")
_SYNC_KEYS = frozenset(SyncSettings().as_rows())


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    """The sync settings and every field mapping."""

    sync: SyncSettings
    mappings: tuple[FieldMapping, ...]

    def to_json(self) -> dict[str, Any]:
        mappings: dict[str, dict[str, dict[str, str]]] = {kind: {} for kind in _KINDS}
        for m in self.mappings:
            mappings[m.object_type][m.hubspot_property] = {
                "mode": m.mode.value,
                "platform_field": m.platform_field,
            }
        return {**self.sync.as_rows(), "mappings": mappings}


def get_settings(conn: psycopg.Connection[Any]) -> PlatformSettings:
    """The stored settings (defaults for keys without a row) and the field mappings."""
    rows = conn.execute("SELECT key, value FROM hubsync.settings").fetchall()
    stored = {key: value for key, value in rows if key in _SYNC_KEYS}
    return PlatformSettings(SyncSettings.model_validate(stored), load_mappings(conn).mappings)


def parse_setting(key: str, value: str) -> tuple[str, Any]:
    """Validate ``key`` and ``value``; returns the key and the value to store (pure)."""
    text = value.strip().lower()
    if key == "push.enabled":
        if text in _TRUE:
            return key, True
        if text in _FALSE:
            return key, False
        raise InvalidSetting(f"push.enabled takes true or false, got {value!r}")
    if key == "push.scope":
        try:
            return key, PushScope(text).value
        except ValueError:
            raise InvalidSetting(f"push.scope takes all or manual, got {value!r}") from None
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "mapping":
        if parts[1] not in _KINDS:
            raise InvalidSetting(
                f"mapping keys are mapping.contact.PROPERTY or mapping.account.PROPERTY, got {key!r}"
            )
        try:
            check_field_name(parts[2])
        except InvalidField as exc:
            raise InvalidSetting(str(exc)) from None
        try:
            return key, MappingMode(text).value
        except ValueError:
            raise InvalidSetting(f"{key} takes none, autofill or overwrite, got {value!r}") from None
    raise InvalidSetting(
        f"unknown setting {key!r}: use push.enabled, push.scope or mapping.<contact|account>.<property>"
    )


def set_setting(conn: psycopg.Connection[Any], key: str, value: str) -> PlatformSettings:
    """Store one setting (one transaction); returns the settings as they now are."""
    key, parsed = parse_setting(key, value)
    with conn.transaction():
        if key.startswith("mapping."):
            _, kind, prop = key.split(".")
            conn.execute(
                "INSERT INTO hubsync.field_mappings (object_type, hubspot_property, platform_field, mode)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (portal_id, object_type, hubspot_property)"
                " DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()",
                (kind, prop, prop, parsed),
            )
        else:
            conn.execute(
                "INSERT INTO hubsync.settings (key, value) VALUES (%s, %s)"
                " ON CONFLICT (portal_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                (key, Jsonb(parsed)),
            )
        return get_settings(conn)


def settings_rows(settings: PlatformSettings) -> Mapping[str, str]:
    """Every key and its value as ``hubsync settings set`` takes them (for a table)."""
    rows = {key: str(value).lower() for key, value in settings.sync.as_rows().items()}
    for m in settings.mappings:
        rows[f"mapping.{m.object_type}.{m.hubspot_property}"] = m.mode.value
    return rows


@dataclass(frozen=True, slots=True)
class MappingRollout:
    """Where a mapping version stands: the running workers, and those still on an older one."""

    version: int
    live: tuple[WorkerContext, ...]
    behind: tuple[WorkerContext, ...]

    @property
    def in_effect(self) -> bool:
        return not self.behind


def mapping_rollout(conn: psycopg.Connection[Any], version: int | None = None) -> MappingRollout:
    """Which running workers apply field-mapping ``version`` (default: the current one) yet."""
    wanted = mapping_version(conn) if version is None else version
    live = tuple(w for w in worker_contexts(conn) if w.live)
    return MappingRollout(wanted, live, tuple(w for w in live if w.mapping_version < wanted))
