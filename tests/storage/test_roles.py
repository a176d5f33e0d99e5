"""The runtime role: after ``hubsync db migrate`` with ``HUBSYNC_DATABASE_RUNTIME_ROLE``, that role reads and
writes every row hubsync's processes need and cannot change the schema; the role's name is never SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.platform import create_record, update_record
from hubsync.storage.migrate import migrate
from hubsync.storage.roles import UnknownRoleError, grant_runtime_role

pytestmark = pytest.mark.integration


def as_user(url: str, user: str) -> str:
    return psycopg.conninfo.make_conninfo(url, user=user)


@pytest.fixture
def role(fresh_database_url: str) -> Iterator[str]:
    name = f"hubsync_rt_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _migrate_granting(owner_url: str, runtime_url: str, role: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", runtime_url)
    monkeypatch.setenv("HUBSYNC_MIGRATION_DATABASE_URL", owner_url)
    monkeypatch.setenv("HUBSYNC_DATABASE_RUNTIME_ROLE", role)
    result = CliRunner().invoke(app, ["db", "migrate", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE hubsync.intruder (n int)",
        "ALTER TABLE hubsync.contacts_all ADD COLUMN intruder int",
        "DROP TABLE hubsync.push_errors_all",
        "TRUNCATE hubsync.outbox_all",
        "CREATE INDEX intruder ON hubsync.contacts_all (email)",
        "INSERT INTO hubsync.schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
    ],
)
def test_the_runtime_role_writes_rows_and_cannot_change_the_schema(
    fresh_database_url: str, role: str, ddl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime_url = as_user(fresh_database_url, role)
    report = _migrate_granting(fresh_database_url, runtime_url, role, monkeypatch)
    assert report["runtime_role"] == role and report["applied"]
    with psycopg.connect(runtime_url, autocommit=True) as conn:
        record_id = create_record(
            conn, "contact", {"email": "rt@acme.com", "firstname": "Ro"}
        )  # sequence, trigger
        update_record(conn, record_id, {"lastname": "Le"})
        assert conn.execute("SELECT count(*) FROM hubsync.outbox").fetchone() == (2,)
        conn.execute("DELETE FROM hubsync.webhook_dedupe")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(ddl)


def test_a_later_migrate_grants_the_tables_it_adds(fresh_database_url: str, role: str) -> None:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        grant_runtime_role(conn, role)
        conn.execute("CREATE TABLE hubsync.added_later (n int)")  # as a later migration would
    with psycopg.connect(as_user(fresh_database_url, role), autocommit=True) as conn:
        conn.execute("INSERT INTO hubsync.added_later VALUES (1)")


@pytest.mark.parametrize("name", ['x"; DROP TABLE hubsync.contacts_all; --', "nobody_here"])
def test_a_role_that_does_not_exist_is_refused_and_its_name_never_runs(
    fresh_database_url: str, name: str
) -> None:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        with pytest.raises(UnknownRoleError, match="does not exist"):
            grant_runtime_role(conn, name)
        assert conn.execute("SELECT to_regclass('hubsync.contacts_all') IS NOT NULL").fetchone() == (True,)


def test_an_odd_role_name_is_quoted_not_run(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    odd = f'odd"; DROP TABLE hubsync.contacts_all; --{uuid.uuid4().hex[:6]}'
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(odd)))
        try:
            grant_runtime_role(conn, odd)
            assert conn.execute("SELECT to_regclass('hubsync.contacts_all') IS NOT NULL").fetchone() == (
                True,
            )
            granted = conn.execute("SELECT has_table_privilege(%s, 'hubsync.contacts_all', 'INSERT')", (odd,))
            assert granted.fetchone() == (True,)
        finally:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(odd)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(odd)))
