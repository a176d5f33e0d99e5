"""``hubsync errors [list|show|retry]`` against a real, migrated PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.cli._common import console
from hubsync.connectors.hubspot.http.errors import HubSpotErrorDetails
from hubsync.push.errors import PushFailure, record_failure, resolve
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration

runner = CliRunner()

BODY: dict[str, Any] = {
    "status": "error",
    "message": "Property values were not valid: Industry 'ROCKETS' is not one of the allowed options",
    "correlationId": "4f1d0c9e-aaaa-bbbb-cccc-000000000001",
    "category": "VALIDATION_ERROR",
    "context": {"propertyName": ["industry"]},
    "errors": [{"message": "not one of the allowed options", "code": "INVALID_OPTION", "in": "industry"}],
}


@pytest.fixture
def db(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    migrate(fresh_database_url)
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    monkeypatch.setattr(console, "width", 250)  # tables unwrapped, so the assertions can find words
    return fresh_database_url


def seed(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        open_id = record_failure(
            conn,
            PushFailure.from_details(
                HubSpotErrorDetails.from_body(400, BODY),
                object_type="account",
                record_id=17,
                operation="update",
                hubspot_id="5551",
                payload={"id": "5551", "properties": {"industry": "ROCKETS"}},
            ),
        )
        resolved_id = record_failure(
            conn,
            PushFailure(
                object_type="contact", record_id=18, operation="create", category="CONFLICT", message="exists"
            ),
        )
        resolve(conn, 18)
    return open_id, resolved_id


def test_empty_log(db: str) -> None:
    result = runner.invoke(app, ["errors"])
    assert result.exit_code == 0, result.output
    assert "no open push errors" in result.output
    as_json = runner.invoke(app, ["errors", "list", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_list_open_and_all(db: str) -> None:
    open_id, resolved_id = seed(db)
    table = runner.invoke(app, ["errors"])
    assert table.exit_code == 0, table.output
    assert "VALIDATION_ERROR" in table.output and "account 17" in table.output
    assert "CONFLICT" not in table.output

    listed = json.loads(runner.invoke(app, ["errors", "list", "--json"]).stdout)
    assert [e["id"] for e in listed] == [open_id]
    bare = json.loads(runner.invoke(app, ["errors", "--json"]).stdout)
    assert bare == listed
    every = json.loads(runner.invoke(app, ["errors", "list", "--all", "--json"]).stdout)
    assert {e["id"]: e["status"] for e in every} == {open_id: "open", resolved_id: "resolved"}


def test_show(db: str) -> None:
    open_id, _ = seed(db)
    result = runner.invoke(app, ["errors", "show", str(open_id), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["message"] == BODY["message"] and shown["correlation_id"] == BODY["correlationId"]
    assert shown["http_status"] == 400 and shown["attempts"] == 1
    assert shown["context"] == {"propertyName": ["industry"]}
    assert shown["payload"] == {"id": "5551", "properties": {"industry": "ROCKETS"}}
    assert shown["errors"][0]["code"] == "INVALID_OPTION"

    table = runner.invoke(app, ["errors", "show", str(open_id)])
    assert table.exit_code == 0, table.output
    assert (
        "ROCKETS" in table.output and BODY["correlationId"] in table.output and "payload sent" in table.output
    )

    missing = runner.invoke(app, ["errors", "show", "999999"])
    assert missing.exit_code == 1
    assert "no push error with id 999999" in missing.output


def test_retry_writes_a_manual_push_to_the_outbox(db: str) -> None:
    open_id, resolved_id = seed(db)
    result = runner.invoke(app, ["errors", "retry", str(open_id), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["error"]["status"] == "retrying"
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, aggregatetype, aggregateid, type, payload FROM hubsync.outbox"
        ).fetchall()
    assert len(rows) == 1
    outbox_id, aggregatetype, aggregateid, change_type, payload = rows[0]
    assert str(outbox_id) == answer["outbox_event_id"]
    assert (aggregatetype, aggregateid, change_type) == ("account", "17", "PUSH_REQUESTED")
    assert payload["manual"] is True and payload["record_id"] == 17 and payload["hubspot_id"] == "5551"
    assert payload["object_type"] == "ACCOUNT"

    # now retrying: no longer in the open list, still in --all
    assert json.loads(runner.invoke(app, ["errors", "--json"]).stdout) == []
    text = runner.invoke(app, ["errors", "retry", str(open_id)])
    assert text.exit_code == 0 and "queued for a manual push" in text.output

    unknown = runner.invoke(app, ["errors", "retry", "424242"])
    assert unknown.exit_code == 1 and "no push error with id 424242" in unknown.output
    # fixed since and pushed cleanly: reported resolved, nothing queued, success
    done = runner.invoke(app, ["errors", "retry", str(resolved_id)])
    assert done.exit_code == 0 and "resolved" in done.output and "nothing to retry" in done.output
    done_json = json.loads(runner.invoke(app, ["errors", "retry", str(resolved_id), "--json"]).stdout)
    assert done_json["resolved"] is True and done_json["outbox_event_id"] is None
    assert done_json["error"]["status"] == "resolved"
    with psycopg.connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM hubsync.outbox").fetchone()
    assert count is not None and count[0] == 2  # the two successful retries only


def test_database_not_migrated(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    result = runner.invoke(app, ["errors", "list"])
    assert result.exit_code == 1 and "not migrated" in result.output
