"""Which portal a connection works in (migration 0011, docs/portals.md).

``hubsync.<table>`` is a view of the current portal's rows; the current portal is the connection's
``hubsync.portal`` setting (set at connect from ``HUBSYNC_PORTAL_ID``: ``settings.scoped_conninfo``)
or the deployment's home portal. ``COPY`` cannot write into a view, so bulk writers copy into
``hubsync.<table>_all`` with the portal's id (:func:`current_portal`) as the first column.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from hubsync.settings import Settings, public_app

T = TypeVar("T")


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


_ENTER = "SELECT set_config('hubsync.portal', %s, true)"


def _setting(portal_id: int | None) -> tuple[str]:
    return ("" if portal_id is None else str(int(portal_id)),)


def enter_portal(conn: psycopg.Connection[Any], portal_id: int | None) -> None:
    """Work in ``portal_id`` until the end of ``conn``'s transaction (``SET LOCAL hubsync.portal``);
    None: the deployment's home portal."""
    conn.execute(_ENTER, _setting(portal_id))


async def enter_portal_async(conn: psycopg.AsyncConnection[Any], portal_id: int | None) -> None:
    """:func:`enter_portal` for an async connection."""
    await conn.execute(_ENTER, _setting(portal_id))


@contextlib.asynccontextmanager
async def portal_connection(
    pool: psycopg_pool.AsyncConnectionPool[Any], portal_id: int | None
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of ``pool`` working in ``portal_id`` until it goes back to the pool (None: the
    connection's own portal, nothing entered)."""
    async with pool.connection() as conn:
        if portal_id is not None:
            await enter_portal_async(conn, portal_id)
        yield conn


@dataclass(frozen=True, slots=True)
class PortalRouting:
    """Which portal a message's effects belong to (docs/portals.md#one-deployment-many-portals).

    With the public app (``many``), the portal the message names: each is applied in its own
    portal, entered per group of a batch. With a private app, the connection's portal whatever the
    message says (None: nothing is entered), so a private-app deployment needs no portal id at all.
    """

    many: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> PortalRouting:
        return cls(many=public_app(settings))

    def portal_of(self, declared: int | None) -> int | None:
        return declared if self.many else None

    def enter(self, conn: psycopg.Connection[Any], portal: int | None) -> None:
        """Work in ``portal`` for the rest of ``conn``'s transaction; a private app's messages stay
        in the connection's portal (nothing entered)."""
        if self.many:
            enter_portal(conn, portal)


#: a private app's routing: every message in the connection's portal
SINGLE_PORTAL = PortalRouting(many=False)


def group_by_portal(items: Iterable[T], portal_of: Callable[[T], int | None]) -> dict[int | None, list[T]]:
    """``items`` by portal, each group in the order given (a portal's order is kept)."""
    groups: dict[int | None, list[T]] = {}
    for item in items:
        groups.setdefault(portal_of(item), []).append(item)
    return groups
