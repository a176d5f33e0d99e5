"""Versioned, idempotent schema migrations.

Migrations are the ``NNNN_name.sql`` files of :mod:`hubsync.storage.migrations`, applied in
order, each in its own transaction together with its row in ``hubsync.schema_migrations``.
A session advisory lock serializes concurrent runs (two workers starting at once). An applied
migration whose file changed since is an error: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from hubsync.errors import FatalError
from hubsync.settings import scoped_conninfo
from hubsync.storage.portal_scope import adopt_home_portal

MIGRATIONS_PACKAGE = "hubsync.storage.migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: the bytes "hubsync" as a number, so it does not collide by accident.
ADVISORY_LOCK_KEY = int.from_bytes(b"hubsync", "big")

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS hubsync;
CREATE TABLE IF NOT EXISTS hubsync.schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(FatalError, RuntimeError):
    """The database's migration history does not match the migration files."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[Migration, ...]
    already_applied: tuple[Migration, ...]

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def load_migrations() -> list[Migration]:
    """All migration files, sorted by version; duplicate versions or odd names are errors."""
    found: dict[int, Migration] = {}
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migration files have version {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def applied_versions(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """Version -> checksum of the migrations recorded in the database (empty when none)."""
    exists = conn.execute("SELECT to_regclass('hubsync.schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, checksum FROM hubsync.schema_migrations").fetchall()
    return {int(v): str(c) for v, c in rows}


def migrate(
    conninfo: str, migrations: list[Migration] | None = None, *, portal_id: int | None = None
) -> MigrationReport:
    """Apply every pending migration; a second run applies nothing and changes nothing. With
    ``portal_id`` (``HUBSYNC_PORTAL_ID``), a deployment whose home portal was not named yet adopts it:
    the rows kept so far become that portal's (docs/portals.md)."""
    todo = load_migrations() if migrations is None else migrations
    with psycopg.connect(scoped_conninfo(conninfo, portal_id), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            known = applied_versions(conn)
            _check_history(todo, known)
            pending = [m for m in todo if m.version not in known]
            if pending:
                conn.execute(_BOOKKEEPING)
            for migration in pending:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO hubsync.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            if portal_id is not None and _has_portals(conn):
                with conn.transaction():
                    adopt_home_portal(conn, portal_id)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return MigrationReport(
        applied=tuple(pending), already_applied=tuple(m for m in todo if m.version in known)
    )


def _has_portals(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT to_regclass('hubsync.deployment') IS NOT NULL").fetchone() == (True,)


def _check_history(migrations: list[Migration], known: dict[int, str]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, checksum in sorted(known.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}, which this hubsync does not know: "
                "it was migrated by a newer version"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name} changed after it was applied; "
                "migrations are append-only: add a new one instead"
            )
