"""The runtime database role: hubsync's processes read and write rows; only migrations create,
alter or drop (docs/deploy.md#database-roles).

``hubsync db migrate`` runs as the schema's owner (``HUBSYNC_MIGRATION_DATABASE_URL``, else
``DATABASE_URL``) and, with ``HUBSYNC_DATABASE_RUNTIME_ROLE`` set, grants that role what the
workers, relay, receiver, poller and CLI need, nothing more: no CREATE on the schema, no
TRUNCATE, no REFERENCES or TRIGGER, read-only migration history. Default privileges cover what
later migrations add, and every ``migrate`` grants again.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from hubsync.errors import ConfigurationError

SCHEMA = "hubsync"

_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "REVOKE INSERT, UPDATE, DELETE ON {schema}.schema_migrations FROM {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {role}",
)


class UnknownRoleError(ConfigurationError):
    """``HUBSYNC_DATABASE_RUNTIME_ROLE`` names no role of the server."""


def grant_runtime_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Grant ``role`` the runtime privileges on the schema (idempotent; in one transaction). The role
    name is quoted as an identifier, so any text is safe to pass; one that does not exist is refused."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        raise UnknownRoleError(f"database role {role!r} does not exist: create it (LOGIN) before granting it")
    with conn.transaction():
        for statement in _GRANTS:
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(SCHEMA), role=sql.Identifier(role)))
