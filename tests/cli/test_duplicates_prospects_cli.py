"""``hubsync duplicates`` and ``hubsync prospects`` against a real, migrated PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.matching.duplicates import flag_duplicates
from hubsync.matching.prospects import mark_prospects
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def db(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    migrate(fresh_database_url)
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    return fresh_database_url


def seed_duplicates(url: str) -> tuple[int, int, int, int]:
    with psycopg.connect(url) as conn:
        ids: list[int] = []
        for source, hubspot_id in (("hubspot", "501"), ("platform", None)):
            row = conn.execute(
                "INSERT INTO hubsync.contacts (creation_source, hubspot_id, email, first_name, last_name) "
                "VALUES (%s, %s, 'jane@acme.com', 'Jane', 'Doe') RETURNING id",
                (source, hubspot_id),
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, 'jane@acme.com', true)",
                (row[0],),
            )
            ids.append(row[0])
        for name in ("Acme", "Acme Inc."):
            row = conn.execute(
                "INSERT INTO hubsync.accounts (creation_source, name, domain, domain_root, name_normalized) "
                "VALUES ('hubspot', %s, 'acme.com', 'acme.com', 'acme') RETURNING id",
                (name,),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
        flag_duplicates(conn, "contact", ids[:2])
        flag_duplicates(conn, "account", ids[2:])
    return ids[0], ids[1], ids[2], ids[3]


def test_duplicates_empty(db: str) -> None:
    result = runner.invoke(app, ["duplicates"])
    assert result.exit_code == 0, result.output
    assert "no open potential duplicates" in result.output
    as_json = runner.invoke(app, ["duplicates", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_duplicates_lists_open_pairs(db: str) -> None:
    jane, jane_again, acme, acme_inc = seed_duplicates(db)
    result = runner.invoke(app, ["duplicates", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    summary = sorted((r["object_type"], r["signal"], r["record_a"]["id"], r["record_b"]["id"]) for r in rows)
    assert summary == [
        ("account", "domain", acme, acme_inc),
        ("account", "name_company", acme, acme_inc),
        ("contact", "email", jane, jane_again),
    ]
    contact = next(r for r in rows if r["object_type"] == "contact")
    assert contact["record_a"]["hubspot_id"] == "501" and contact["record_b"]["creation_source"] == "platform"

    only_contacts = json.loads(runner.invoke(app, ["duplicates", "--object", "contact", "--json"]).stdout)
    assert [r["object_type"] for r in only_contacts] == ["contact"]
    assert len(json.loads(runner.invoke(app, ["duplicates", "--limit", "1", "--json"]).stdout)) == 1

    table = runner.invoke(app, ["duplicates", "--object", "account"])
    assert table.exit_code == 0, table.output
    assert "acme.com" in table.output and str(acme_inc) in table.output and "jane@" not in table.output


def test_duplicates_rejects_an_unknown_object_type(db: str) -> None:
    result = runner.invoke(app, ["duplicates", "--object", "deal"])
    assert result.exit_code == 2


def test_prospects_lists_net_new_people_and_organizations(db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root) "
            "VALUES ('Acme', 'acme.com', 'acme.com'), ('Globex', 'globex.com', 'globex.com')"
        )
        conn.execute(
            "INSERT INTO hubsync.prospect_people (email_normalized, first_name, last_name) "
            "VALUES ('jane@acme.com', 'Jane', 'Doe'), ('hank@globex.com', 'Hank', 'Scorpio')"
        )
        contact = conn.execute(
            "INSERT INTO hubsync.contacts (creation_source, hubspot_id, email) "
            "VALUES ('hubspot', '1', 'jane@acme.com') RETURNING id"
        ).fetchone()
        assert contact is not None
        conn.execute(
            "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, 'jane@acme.com', true)",
            (contact[0],),
        )
        conn.execute(
            "INSERT INTO hubsync.accounts (creation_source, hubspot_id, domain, domain_root) "
            "VALUES ('hubspot', '2', 'acme.com', 'acme.com')"
        )
        mark_prospects(
            conn, emails=["jane@acme.com", "hank@globex.com"], domain_roots=["acme.com", "globex.com"]
        )

    people = runner.invoke(app, ["prospects", "--json"])
    assert people.exit_code == 0, people.output
    assert [p["email"] for p in json.loads(people.stdout)] == ["hank@globex.com"]

    orgs = runner.invoke(app, ["prospects", "organizations", "--json"])
    assert orgs.exit_code == 0, orgs.output
    assert [o["domain_root"] for o in json.loads(orgs.stdout)] == ["globex.com"]

    table = runner.invoke(app, ["prospects", "people"])
    assert table.exit_code == 0 and "hank@globex.com" in table.output and "jane@acme.com" not in table.output
    org_table = runner.invoke(app, ["prospects", "organizations"])
    assert org_table.exit_code == 0 and "Globex" in org_table.output and "Acme" not in org_table.output
    assert runner.invoke(app, ["prospects", "--offset", "1", "--json"]).stdout.strip() == "[]"


def test_prospects_empty(db: str) -> None:
    result = runner.invoke(app, ["prospects", "organizations"])
    assert result.exit_code == 0 and "no net-new organizations" in result.output


def test_unmigrated_database_is_a_clear_error(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    for args in (["duplicates"], ["prospects"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert "hubsync db migrate" in result.output


def test_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://hubsync:s3cret@127.0.0.1:1/nowhere?connect_timeout=2")
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "nodev"))
    result = runner.invoke(app, ["duplicates"])
    assert result.exit_code == 1
    assert "cannot connect" in result.output
    assert "s3cret" not in result.output
