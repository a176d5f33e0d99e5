"""Which portal a connection works in (migration 0011, docs/portals.md).

``hubsync.<table>`` is a view of the current portal's rows; the current portal is the connection's
``hubsync.portal`` setting (set at connect from ``HUBSYNC_PORTAL_ID``: ``settings.scoped_conninfo``)
or the deployment's home portal. ``COPY`` cannot write into a view, so bulk writers copy into
``hubsync.<table>_all`` with the portal's id (:func:`current_portal`) as the first column.
"""

from __future__ import annotations

from typing import Any

import psycopg


def current_portal(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT hubsync.current_portal()").fetchone()
    assert row is not None
    return int(row[0])


def adopt_home_portal(conn: psycopg.Connection[Any], portal_id: int) -> bool:
    """Make ``portal_id`` the home portal when none was named yet (0), moving the rows kept under 0
    to it: a single-portal deployment's data becomes that portal's without a resync. True if moved."""
    row = conn.execute("SELECT home_portal FROM hubsync.deployment FOR UPDATE").fetchone()
    if row is None or row[0] != 0 or portal_id == 0:
        return False
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'portal_id'"
            " WHERE n.nspname = 'hubsync' AND c.relkind = 'r' AND c.relname LIKE '%%\\_all' ORDER BY 1"
        ).fetchall()
    ]
    for table in tables:
        conn.execute(f"UPDATE hubsync.{table} SET portal_id = %s WHERE portal_id = 0", (portal_id,))
    conn.execute("UPDATE hubsync.deployment SET home_portal = %s", (portal_id,))
    return True
