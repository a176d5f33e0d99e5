"""Schema migrations against a real PostgreSQL: complete, idempotent, append-only, concurrent-safe."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from hubsync.storage.migrate import Migration, MigrationError, load_migrations, migrate

pytestmark = pytest.mark.integration

#: the tables kept per portal: hubsync.<name> is a view of the current portal's rows of <name>_all
PORTAL_SCOPED = {
    "accounts",
    "activity_log",
    "connector_cursors",
    "contact_account_links",
    "contact_emails",
    "contacts",
    "crm_republish",
    "field_mappings",
    "property_definitions",
    "outbox",
    "potential_duplicates",
    "prospect_organizations",
    "prospect_people",
    "push_errors",
    "settings",
}
EXPECTED_TABLES = {f"{name}_all" for name in PORTAL_SCOPED} | {
    "config_versions",
    "console_users",
    "deployment",
    "portals",
    "schema_migrations",
    "webhook_dedupe",
    "worker_contexts",
}


def schema_snapshot(conninfo: str) -> dict[str, Any]:
    """Everything a migration could change: columns, indexes, constraints, views, functions, rows."""
    with psycopg.connect(conninfo) as conn:
        q = conn.execute
        return {
            "columns": q(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'hubsync' ORDER BY 1, 2"
            ).fetchall(),
            "indexes": q(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'hubsync' ORDER BY 1"
            ).fetchall(),
            "constraints": q(
                "SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'hubsync' ORDER BY 1"
            ).fetchall(),
            "views": q(
                "SELECT viewname, definition FROM pg_views WHERE schemaname = 'hubsync' ORDER BY 1"
            ).fetchall(),
            "functions": q(
                "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'hubsync'"
            ).fetchall(),
            "migrations": q(
                "SELECT version, name, checksum, applied_at FROM hubsync.schema_migrations ORDER BY 1"
            ).fetchall(),
        }


def test_migrate_creates_the_schema_and_a_second_run_changes_nothing(fresh_database_url: str) -> None:
    first = migrate(fresh_database_url)
    assert [m.version for m in first.applied] == [m.version for m in load_migrations()]
    assert first.changed
    with psycopg.connect(fresh_database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'hubsync'")}
        views = {r[0] for r in conn.execute("SELECT viewname FROM pg_views WHERE schemaname = 'hubsync'")}
    assert tables == EXPECTED_TABLES
    assert views == PORTAL_SCOPED | {"net_new_people", "net_new_organizations"}

    before = schema_snapshot(fresh_database_url)
    second = migrate(fresh_database_url)
    assert second.applied == () and not second.changed
    assert len(second.already_applied) == len(load_migrations())
    assert schema_snapshot(fresh_database_url) == before


def test_outbox_has_debezium_columns_and_notifies(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    with (
        psycopg.connect(fresh_database_url, autocommit=True) as listener,
        psycopg.connect(fresh_database_url) as writer,
    ):
        cols = {
            r[0]
            for r in writer.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema='hubsync' AND table_name='outbox'"
            )
        }
        assert {"id", "aggregatetype", "aggregateid", "type", "payload"} <= cols
        listener.execute("LISTEN hubsync_outbox")
        writer.execute(
            "INSERT INTO hubsync.outbox (aggregatetype, aggregateid, type, payload) VALUES ('contact', '7', 'UPDATED', '{}')"
        )
        writer.commit()
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert len(notes) == 1 and notes[0].channel == "hubsync_outbox"


def test_schema_constraints_hold(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as conn:
        a = conn.execute(
            "INSERT INTO hubsync.contacts (creation_source) VALUES ('hubspot') RETURNING id"
        ).fetchone()
        b = conn.execute(
            "INSERT INTO hubsync.accounts (creation_source) VALUES ('platform') RETURNING id"
        ).fetchone()
        assert a is not None and b is not None and a[0] != b[0], "contacts and accounts share one id space"
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO hubsync.contacts (creation_source) VALUES ('somewhere')")
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO hubsync.potential_duplicates (object_type, record_a, record_b, signal) VALUES ('contact', 5, 3, 'email')"
            )


def test_a_changed_migration_is_refused(fresh_database_url: str) -> None:
    migrations = load_migrations()
    migrate(fresh_database_url, migrations)
    edited = [
        *migrations[:-1],
        Migration(migrations[-1].version, migrations[-1].name, migrations[-1].sql + "\n-- edited"),
    ]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(fresh_database_url, edited)


def test_a_database_from_a_newer_version_is_refused(fresh_database_url: str) -> None:
    migrations = load_migrations()
    newer = [*migrations, Migration(9999, "future", "CREATE TABLE hubsync.future (id int)")]
    migrate(fresh_database_url, newer)
    with pytest.raises(MigrationError, match="newer version"):
        migrate(fresh_database_url, migrations)


def test_concurrent_runs_apply_each_migration_once(fresh_database_url: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(len(migrate(fresh_database_url).applied))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, len(load_migrations())]


def test_a_failing_migration_leaves_nothing_half_applied(fresh_database_url: str) -> None:
    migrations = load_migrations()
    broken = [*migrations, Migration(9000, "broken", "CREATE TABLE hubsync.half (id int); SELECT 1/0;")]
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(fresh_database_url, broken)
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT to_regclass('hubsync.half')").fetchone() == (None,)
        versions = [r[0] for r in conn.execute("SELECT version FROM hubsync.schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in migrations]
