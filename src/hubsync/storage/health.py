"""Readiness checks of PostgreSQL for ``/readyz`` (:mod:`hubsync.health`)."""

from __future__ import annotations

import psycopg

from hubsync.health import Check
from hubsync.storage.migrate import applied_versions, load_migrations

#: seconds a readiness check may wait for a connection
CONNECT_TIMEOUT_S = 2


def postgres_check(conninfo: str) -> Check:
    """PostgreSQL answers a query."""

    def check() -> str:
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return "answers"

    return check


def migrations_check(conninfo: str) -> Check:
    """Every migration this version of hubsync knows is applied (``hubsync db migrate``)."""
    wanted = [m.version for m in load_migrations()]

    def check() -> str:
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            applied = applied_versions(conn)
        pending = [v for v in wanted if v not in applied]
        if pending:
            raise RuntimeError(f"migrations {pending} not applied: run hubsync db migrate")
        return f"at {max(applied)}"

    return check
