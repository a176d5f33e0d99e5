"""Default settings and field mappings: validated file, seeded without overwriting edits."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from hubsync.storage.defaults import DefaultsFileError, MappingMode, load_defaults, seed_defaults
from hubsync.storage.migrate import migrate


def test_packaged_defaults_are_valid() -> None:
    defaults = load_defaults()
    assert defaults.settings.push_enabled is True
    assert {m.object_type for m in defaults.field_mappings} == {"contact", "account"}
    assert {m.mode for m in defaults.field_mappings} == set(MappingMode)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[settings]\n"push.scope" = "sometimes"\n', "push.scope"),
        ('[settings]\n"push.unknown" = 1\n', "push.unknown"),
        (
            '[[field_mappings]]\nobject_type = "deal"\nhubspot_property = "x"\nplatform_field = "x"\n',
            "object_type",
        ),
        (
            '[[field_mappings]]\nobject_type = "contact"\nhubspot_property = "x"\nplatform_field = "x"\nmode = "maybe"\n',
            "mode",
        ),
        (
            '[[field_mappings]]\nobject_type = "contact"\nhubspot_property = "x"\nplatform_field = "x"\n' * 2,
            "listed twice",
        ),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_defaults_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "mappings.toml"
    path.write_text(content)
    with pytest.raises(DefaultsFileError, match=message) as info:
        load_defaults(path)
    assert str(path) in str(info.value)


def test_missing_defaults_file(tmp_path: Path) -> None:
    with pytest.raises(DefaultsFileError, match="cannot read"):
        load_defaults(tmp_path / "nope.toml")


@pytest.mark.integration
def test_seeding_keeps_a_persons_changes(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    defaults = load_defaults()
    with psycopg.connect(fresh_database_url) as conn:
        first = seed_defaults(conn, defaults)
        assert first.settings_inserted == 2
        assert first.mappings_inserted == len(defaults.field_mappings)
        conn.execute("UPDATE hubsync.settings SET value = 'false' WHERE key = 'push.enabled'")
        conn.execute("UPDATE hubsync.field_mappings SET mode = 'none' WHERE hubspot_property = 'jobtitle'")
        conn.commit()
        again = seed_defaults(conn, defaults)
        assert (again.settings_inserted, again.mappings_inserted) == (0, 0)
        assert conn.execute("SELECT value FROM hubsync.settings WHERE key = 'push.enabled'").fetchone() == (
            False,
        )
        mode = conn.execute(
            "SELECT mode FROM hubsync.field_mappings WHERE object_type = 'contact' AND hubspot_property = 'jobtitle'"
        ).fetchone()
        assert mode == ("none",)
