"""Schema evolution: each current schema must read data written with every released version.

Checked with Apache avro's own compatibility checker. Releasing a schema version means copying
the current file to ``schemas/released/<stem>/v<N+1>.avsc``.
"""

from __future__ import annotations

import json
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from hubsync.avro.schemas import SchemaRepository

REPO = SchemaRepository()


def backward_compatible(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    return bool(result.compatibility is SchemaCompatibilityType.compatible)


@pytest.mark.parametrize("stem", REPO.stems)
def test_current_schema_reads_every_released_version(stem: str) -> None:
    released = REPO.released(stem)
    assert released, f"{stem} has no released version under schemas/released/{stem}/"
    assert [s.version for s in released] == list(range(1, len(released) + 1)), "versions must be v1..vN"
    current = REPO.current(stem)
    for old in released:
        assert backward_compatible(current.definition, old.definition), (
            f"schemas/{stem}.avsc cannot read data written with released v{old.version}: "
            "add fields with defaults, never remove or retype a field without a default"
        )


@pytest.mark.parametrize("stem", REPO.stems)
def test_latest_released_version_is_current_or_older(stem: str) -> None:
    """An unreleased change is allowed only if compatible; a released file never changes."""
    latest = REPO.released(stem)[-1]
    assert latest.full_name == REPO.current(stem).full_name


def _breaking_changes(schema: dict[str, Any]) -> list[dict[str, Any]]:
    fields = schema["fields"]
    added_without_default = dict(schema, fields=[*fields, {"name": "new_required", "type": "string"}])
    retyped = dict(
        schema,
        fields=[dict(fields[0], type="boolean"), *fields[1:]],
    )
    return [added_without_default, retyped]


@pytest.mark.parametrize("stem", REPO.stems)
def test_the_check_catches_breaking_changes(stem: str) -> None:
    """The compatibility check is not vacuous: typical breaking edits are refused."""
    current = REPO.current(stem).definition
    for broken in _breaking_changes(current):
        assert not backward_compatible(broken, current)
    additive = dict(
        current, fields=[*current["fields"], {"name": "extra", "type": ["null", "string"], "default": None}]
    )
    assert backward_compatible(additive, current)


@pytest.mark.parametrize("stem", REPO.stems)
def test_a_subscriber_holding_the_previous_release_reads_what_the_current_schema_writes(stem: str) -> None:
    """Forward compatibility: subscribers upgrade after hubsync does, so a consumer still decoding
    with a released schema (the previous release's, or any older one) must read every message the
    current schema writes."""
    current = REPO.current(stem).definition
    for old in REPO.released(stem):
        assert backward_compatible(old.definition, current), (
            f"schemas/{stem}.avsc writes data a subscriber on released v{old.version} cannot read: add "
            "fields with defaults (old readers skip them), never add an enum symbol without an enum default"
        )


@pytest.mark.parametrize("stem", REPO.stems)
def test_the_forward_check_catches_changes_that_break_old_subscribers(stem: str) -> None:
    current = REPO.current(stem).definition
    retyped = dict(current, fields=[dict(current["fields"][0], type="boolean"), *current["fields"][1:]])
    assert not backward_compatible(current, retyped)
