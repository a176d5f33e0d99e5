"""The schema files: the current version of each contract and its released versions.

Layout of the schema directory::

    schemas/<stem>.avsc                    the current schema, what hubsync writes
    schemas/released/<stem>/v<N>.avsc      every released version, what old data was written with

The current schema must be able to read data written with every released version (backward
compatibility, checked by the test suite). Single-object encoded messages name their writer
schema by fingerprint, so a reader finds old versions here too.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from hubsync.avro.native import NativeCodec, native_codec
from hubsync.errors import SchemaError

SCHEMA_DIR_ENV = "HUBSYNC_SCHEMA_DIR"
_VERSION_RE = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True)
class AvroSchema:
    """One parsed schema: ``stem`` is the file name, ``version`` None for the current one."""

    stem: str
    version: int | None
    definition: dict[str, Any] = field(repr=False)

    @cached_property
    def parsed(self) -> Any:
        return fastavro.parse_schema(self.definition)

    @cached_property
    def plain_definition(self) -> dict[str, Any]:
        """The definition without logical types: the same binary layout, timestamps as ints."""
        return dict(_without_logical_types(self.definition))

    @cached_property
    def parsed_plain(self) -> Any:
        """The schema without logical types: the same binary layout, but timestamps decode as
        plain ints (Unix ms), which is over twice as fast as building datetimes (hot paths)."""
        return fastavro.parse_schema(self.plain_definition)

    @cached_property
    def native(self) -> NativeCodec | None:
        """The compiled codec of :attr:`plain_definition`, if installed and the schema fits it
        (:mod:`hubsync.avro.native`)."""
        return native_codec(self.plain_definition)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """A record schema's field names, in order (empty for other schemas)."""
        return tuple(str(f["name"]) for f in self.definition.get("fields", ()))

    @property
    def full_name(self) -> str:
        return str(self.parsed["name"])

    @cached_property
    def canonical_form(self) -> str:
        return str(to_parsing_canonical_form(self.definition))

    @cached_property
    def fingerprint(self) -> bytes:
        """CRC-64-AVRO of the Parsing Canonical Form, little-endian, as single-object encoding uses."""
        return bytes.fromhex(fingerprint(self.canonical_form, "CRC-64-AVRO"))

    @property
    def json(self) -> str:
        return json.dumps(self.definition, separators=(",", ":"))


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def default_schema_dir() -> Path:
    """``$HUBSYNC_SCHEMA_DIR``, else the copy packaged in the wheel, else the source tree's."""
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        return Path(env)
    packaged = Path(str(resources.files("hubsync"))) / "_schemas"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[3] / "schemas"
    if source_tree.is_dir():
        return source_tree
    raise SchemaError(f"no schema directory found; set {SCHEMA_DIR_ENV}")


def _read(path: Path, stem: str, version: int | None) -> AvroSchema:
    try:
        definition = json.loads(path.read_text("utf-8"))
        schema = AvroSchema(stem, version, definition)
        schema.parsed  # noqa: B018 - parse now so a broken file fails at load time
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"schema file {path} is invalid: {exc}") from exc
    return schema


class SchemaRepository:
    """All schemas of a schema directory, by stem and by fingerprint."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_schema_dir()
        self._current: dict[str, AvroSchema] = {}
        self._released: dict[str, list[AvroSchema]] = {}
        self._by_fingerprint: dict[bytes, AvroSchema] = {}
        for path in sorted(self.directory.glob("*.avsc")):
            self._add(_read(path, path.stem, None))
        released_root = self.directory / "released"
        if released_root.is_dir():
            for stem_dir in sorted(p for p in released_root.iterdir() if p.is_dir()):
                for path in sorted(stem_dir.glob("*.avsc")):
                    match = _VERSION_RE.match(path.name)
                    if match is None:
                        raise SchemaError(f"released schema {path} is not named v<N>.avsc")
                    self._add(_read(path, stem_dir.name, int(match.group(1))))
        if not self._current:
            raise SchemaError(f"no .avsc files in {self.directory}")

    def _add(self, schema: AvroSchema) -> None:
        if schema.version is None:
            self._current[schema.stem] = schema
        else:
            self._released.setdefault(schema.stem, []).append(schema)
            self._released[schema.stem].sort(key=lambda s: s.version or 0)
        # the current schema wins a fingerprint tie with the released copy it equals
        if schema.version is None or schema.fingerprint not in self._by_fingerprint:
            self._by_fingerprint[schema.fingerprint] = schema

    @property
    def stems(self) -> list[str]:
        return sorted(self._current)

    def current(self, stem: str) -> AvroSchema:
        try:
            return self._current[stem]
        except KeyError:
            raise SchemaError(f"no schema named {stem!r} in {self.directory}") from None

    def released(self, stem: str) -> list[AvroSchema]:
        return list(self._released.get(stem, []))

    def by_fingerprint(self, fp: bytes) -> AvroSchema | None:
        return self._by_fingerprint.get(fp)
