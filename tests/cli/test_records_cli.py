"""``hubsync records``, ``push``, ``enrich``, ``merge``, ``settings`` and ``activity`` against a real,
migrated PostgreSQL: output, ``--json``, exit codes, and nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from tests.platform.conftest import assert_valid_avro
from tests.platform.helpers import pull

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def db(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as conn:
        seed_defaults(conn, load_defaults())
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    return fresh_database_url


def invoke(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


def written(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM hubsync.contacts) + (SELECT count(*) FROM hubsync.accounts),"
            " (SELECT count(*) FROM hubsync.outbox), (SELECT count(*) FROM hubsync.activity_log),"
            " (SELECT count(*) FROM hubsync.settings WHERE value <> 'true'::jsonb AND value <> '\"all\"'::jsonb)"
        ).fetchone()
        assert row is not None
        return tuple(row)


def outbox(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT id, type, payload FROM hubsync.outbox ORDER BY seq").fetchall()
    for outbox_id, _type, payload in found:
        assert_valid_avro(outbox_id, payload)
    return [{"type": t, "payload": p} for _id, t, p in found]


@pytest.mark.parametrize(
    "command",
    [
        ["records"],
        ["records", "create"],
        ["records", "update"],
        ["records", "delete"],
        ["records", "show"],
        ["push"],
        ["enrich"],
        ["merge"],
        ["settings"],
        ["settings", "show"],
        ["settings", "set"],
        ["activity"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_create_show_update_delete(db: str) -> None:
    view = invoke(
        "records",
        "create",
        "contact",
        "--set",
        "email=jane@acme.com",
        "--set",
        "firstname=Jane",
        "--set",
        "notes=private",
        "--json",
    )
    rid = view["id"]
    assert view["creation_source"] == "platform" and view["crm_status"] == "not_linked"
    assert view["properties"] == {"email": "jane@acme.com", "firstname": "Jane", "notes": "private"}
    table = invoke("records", "show", str(rid))
    assert (
        "not_linked" in table.output and "jane@acme.com" in table.output and "not in HubSpot" in table.output
    )

    updated = invoke("records", "update", str(rid), "--set", "jobtitle=CTO", "--set", "firstname=", "--json")
    assert updated["changed"] == {
        "jobtitle": {"before": None, "after": "CTO"},
        "firstname": {"before": "Jane", "after": None},
    }
    assert updated["outbox_id"] is not None
    unmapped = invoke("records", "update", str(rid), "--set", "notes=changed", "--json")
    assert unmapped["outbox_id"] is None

    deleted = invoke("records", "delete", str(rid))
    assert f"deleted contact {rid}" in deleted.output
    assert invoke("records", "show", str(rid), "--json")["deleted_in_platform"] is True
    assert [r["type"] for r in outbox(db)] == ["CREATED", "UPDATED", "DELETED"]
    created = outbox(db)[0]["payload"]
    assert created["changed_fields"] == {"email": "jane@acme.com", "firstname": "Jane"}


def test_create_account_with_source_and_push(db: str) -> None:
    view = invoke(
        "records",
        "create",
        "account",
        "--set",
        "name=Acme",
        "--set",
        "numberofemployees=1,000".replace(",", ""),
        "--source",
        "import",
        "--push",
        "--json",
    )
    assert view["creation_source"] == "import" and view["properties"]["numberofemployees"] == "1000"
    [row] = outbox(db)
    assert row["payload"]["manual"] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["records", "create", "contact", "--set", "email"], 2, "FIELD=VALUE"),
        (["records", "create", "contact", "--set", "=x"], 2, "FIELD=VALUE"),
        (["records", "create", "contact", "--set", "a=1", "--set", "a=2"], 2, "twice"),
        (["records", "create", "contact"], 2, "at least one"),
        (["records", "create", "deal", "--set", "name=x"], 2, ""),
        (["records", "create", "contact", "--set", "Email=x@y.com"], 2, "not a HubSpot property name"),
        (["records", "create", "account", "--set", "industry=Space piracy"], 2, "allowed options"),
        (["records", "create", "account", "--set", "numberofemployees=lots"], 2, "not a number"),
        (["records", "create", "contact", "--set", "email=x@y.com", "--source", "hubspot"], 2, ""),
        (["records", "update", "999999", "--set", "email=x@y.com"], 1, "no contact or account"),
        (["records", "delete", "999999"], 1, "no contact or account"),
        (["records", "show", "999999"], 1, "no contact or account"),
        (["records", "update", "abc", "--set", "email=x"], 2, ""),
        (["push", "999999"], 1, "no contact or account"),
        (["enrich", "999999", "--field", "jobtitle", "--value", "x"], 1, "no contact or account"),
        (["merge", "999998", "999999"], 1, "no contact or account"),
        (["activity", "999999"], 1, "no contact or account"),
        (["settings", "set", "push.enabled", "maybe"], 2, "true or false"),
        (["settings", "set", "push.scope", "everyone"], 2, "all or manual"),
        (["settings", "set", "push.speed", "1"], 2, "unknown setting"),
        (["settings", "set", "mapping.contact.jobtitle", "always"], 2, "none, autofill or overwrite"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    db: str, args: list[str], code: int, message: str
) -> None:
    before = written(db)
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert written(db) == before


def test_update_with_an_invalid_value_changes_nothing(db: str) -> None:
    rid = invoke("records", "create", "account", "--set", "name=Acme", "--json")["id"]
    before = written(db)
    result = runner.invoke(
        app, ["records", "update", str(rid), "--set", "name=Acme2", "--set", "industry=nope"]
    )
    assert result.exit_code == 2 and "allowed options" in " ".join(result.output.split())
    assert written(db) == before
    assert invoke("records", "show", str(rid), "--json")["properties"] == {"name": "Acme"}


def test_duplicate_of_a_hubspot_contact_shows_on_the_record(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        mirrored = pull(conn, "901", {"email": "jane@acme.com"})
    view = invoke("records", "create", "contact", "--set", "email=Jane@ACME.com", "--json")
    assert view["duplicates"] == [{"record_id": mirrored, "signal": "email"}]
    shown = invoke("records", "show", str(view["id"]))
    assert f"{mirrored} (email)" in shown.output
    listed = invoke("duplicates", "--json")
    assert {(r["record_a"]["id"], r["record_b"]["id"]) for r in listed} == {(mirrored, view["id"])}


def test_push_enrich_merge_and_activity(db: str) -> None:
    invoke("settings", "set", "push.enabled", "false")
    a = invoke(
        "records", "create", "contact", "--set", "email=jane@acme.com", "--set", "jobtitle=CTO", "--json"
    )["id"]
    b = invoke("records", "create", "contact", "--set", "email=jane@acme.com", "--json")["id"]

    pushed = invoke("push", str(a), "--json")
    assert [p["record_id"] for p in pushed] == [a]
    assert "push requested for record" in invoke("push", str(b)).output

    enriched = invoke("enrich", str(a), "--field", "company", "--value", "Acme", "--json")
    assert enriched["changed"] == {"company": {"before": None, "after": "Acme"}}
    missing = runner.invoke(app, ["enrich", str(a), "--field", "city"])
    assert missing.exit_code == 1 and "give --value" in " ".join(missing.output.split())

    merged = invoke("merge", str(a), str(b), "--json")
    assert merged["survivor_id"] == a and merged["merged_id"] == b
    assert invoke("records", "show", str(b), "--json")["crm_status"] == "merged_in_platform"
    assert invoke("duplicates", "--json") == []
    again = runner.invoke(app, ["merge", str(a), str(b)])
    assert again.exit_code == 1 and "merged into" in again.output

    types = [r["type"] for r in outbox(db)]
    assert types == ["CREATED", "CREATED", "PUSH_REQUESTED", "PUSH_REQUESTED", "ENRICHED", "MERGED"]
    assert outbox(db)[4]["payload"]["manual"] is True

    log = invoke("activity", str(a), "--json")
    assert [e["action"] for e in log][:2] == ["merged_in_platform", "enriched"]
    assert log[-1]["action"] == "created_in_platform"
    table = invoke("activity", str(a), "--limit", "2")
    assert "merged_in_platform" in table.output and "created_in_platform" not in table.output


def test_settings_show_and_set(db: str) -> None:
    shown = invoke("settings", "--json")
    assert shown["push.enabled"] is True and shown["mappings"]["contact"]["jobtitle"]["mode"] == "autofill"
    assert invoke("settings", "show", "--json") == shown
    assert "push.scope" in invoke("settings").output
    changed = invoke("settings", "set", "push.scope", "manual", "--json")
    assert changed["push.scope"] == "manual"
    text = invoke("settings", "set", "mapping.account.industry", "overwrite")
    assert "mapping.account.industry = overwrite" in text.output
    assert invoke("settings", "show", "--json")["mappings"]["account"]["industry"]["mode"] == "overwrite"
