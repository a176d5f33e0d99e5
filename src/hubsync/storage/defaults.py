"""Default settings and field mappings: a validated TOML file, seeded into the database."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hubsync.errors import FatalError

DEFAULTS_RESOURCE = "defaults.toml"


class MappingMode(StrEnum):
    NONE = "none"
    AUTOFILL = "autofill"
    OVERWRITE = "overwrite"


class FieldMapping(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    object_type: Literal["contact", "account"]
    hubspot_property: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    platform_field: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    mode: MappingMode = MappingMode.NONE


class PushScope(StrEnum):
    ALL = "all"
    MANUAL = "manual"


class SyncSettings(BaseModel):
    """The known settings keys and their types; unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    push_enabled: bool = Field(default=True, alias="push.enabled")
    push_scope: PushScope = Field(default=PushScope.ALL, alias="push.scope")

    def as_rows(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class DefaultsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    settings: SyncSettings = SyncSettings()
    field_mappings: tuple[FieldMapping, ...] = ()

    @model_validator(mode="after")
    def _unique_mappings(self) -> DefaultsFile:
        seen: set[tuple[str, str]] = set()
        for mapping in self.field_mappings:
            key = (mapping.object_type, mapping.hubspot_property)
            if key in seen:
                raise ValueError(f"field mapping {key[0]}.{key[1]} is listed twice")
            seen.add(key)
        return self


class DefaultsFileError(FatalError, ValueError):
    """The defaults file cannot be read or does not validate; names the file and the problem."""


def load_defaults(path: Path | None = None) -> DefaultsFile:
    """Parse and validate a defaults file (the packaged one when ``path`` is None)."""
    try:
        if path is None:
            raw = resources.files("hubsync.storage").joinpath(DEFAULTS_RESOURCE).read_text("utf-8")
            source = f"packaged {DEFAULTS_RESOURCE}"
        else:
            raw = path.read_text("utf-8")
            source = str(path)
        data = tomllib.loads(raw)
        return DefaultsFile.model_validate(data)
    except OSError as exc:
        raise DefaultsFileError(f"cannot read defaults file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DefaultsFileError(f"{source} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise DefaultsFileError(f"{source} is invalid:\n{exc}") from exc


@dataclass(frozen=True, slots=True)
class SeedReport:
    settings_inserted: int
    mappings_inserted: int


def seed_defaults(conn: psycopg.Connection[Any], defaults: DefaultsFile) -> SeedReport:
    """Insert default settings and mappings where none exist; existing rows are left alone."""
    settings_inserted = 0
    mappings_inserted = 0
    with conn.transaction(), conn.cursor() as cur:
        for key, value in defaults.settings.as_rows().items():
            cur.execute(
                "INSERT INTO hubsync.settings (key, value) VALUES (%s, %s)"
                " ON CONFLICT (portal_id, key) DO NOTHING",
                (key, Jsonb(value)),
            )
            settings_inserted += cur.rowcount
        for m in defaults.field_mappings:
            cur.execute(
                "INSERT INTO hubsync.field_mappings (object_type, hubspot_property, platform_field, mode)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (portal_id, object_type, hubspot_property) DO NOTHING",
                (m.object_type, m.hubspot_property, m.platform_field, m.mode.value),
            )
            mappings_inserted += cur.rowcount
    return SeedReport(settings_inserted, mappings_inserted)
