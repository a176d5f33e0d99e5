"""PostgreSQL advisory locks by name: stable ids, taken in one statement, in one order.

Every writer takes its locks through :func:`take_locks`: the group locks first (shared, or
exclusive when one stands in for many single locks, as duplicate detection's does), then the single
locks, each group in id order. Every transaction asking in that order cannot deadlock with another
on these locks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

import psycopg

from hubsync.errors import ConfigurationError
from hubsync.storage.arrays import bool_array, int_array

_TAKE = """
SELECT CASE WHEN k.exclusive THEN pg_advisory_xact_lock(k.id) ELSE pg_advisory_xact_lock_shared(k.id) END
  FROM unnest(%(ids)s::bigint[], %(exclusive)s::boolean[]) WITH ORDINALITY AS k(id, exclusive, n)
 ORDER BY k.n
"""


#: the share of the server's lock table one transaction may fill with single locks
LOCK_TABLE_SHARE = 3

_LOCK_TABLE = """
SELECT current_setting('max_locks_per_transaction')::bigint
       * (current_setting('max_connections')::bigint + current_setting('max_prepared_transactions')::bigint)
"""


class LockBudgetError(ConfigurationError):
    """A transaction could take more advisory locks than the server's lock table has room for."""


def lock_table_slots(conn: psycopg.Connection[Any]) -> int:
    """The slots of the server's shared lock table: ``max_locks_per_transaction`` x
    (``max_connections`` + ``max_prepared_transactions``). Every lock any session holds takes one;
    when they run out, every transaction on the server that asks for a lock fails."""
    row = conn.execute(_LOCK_TABLE).fetchone()
    assert row is not None
    return int(row[0])


def check_lock_budget(
    conn: psycopg.Connection[Any], most: int, setting: str, *, holder: str = "one transaction"
) -> None:
    """Refuse (:class:`LockBudgetError`) ``most`` locks held at once by ``holder``, ``setting``
    allowing it, when that is over a third of the server's lock table."""
    slots = lock_table_slots(conn)
    if most * LOCK_TABLE_SHARE > slots:
        raise LockBudgetError(
            f"{setting} lets {holder} take {most:,} advisory locks at once, over a third of this"
            f" PostgreSQL server's lock table ({slots:,} slots: max_locks_per_transaction x"
            f" (max_connections + max_prepared_transactions)); lower {setting} or raise"
            " max_locks_per_transaction (a server restart)"
        )


def advisory_lock_id(*parts: str) -> int:
    """A stable signed 64-bit id for ``pg_advisory_xact_lock``: the first 8 bytes of a BLAKE2b
    digest of ``parts`` joined by the unit separator. Stable across processes and Python versions
    (unlike ``hash()``); a collision only makes two unrelated names wait for each other."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def take_locks(
    conn: psycopg.Connection[Any],
    *,
    shared: Collection[int] = (),
    exclusive: Collection[int] = (),
    single: Collection[int] = (),
) -> None:
    """Take, until the transaction ends, the group locks ``shared`` (shared) and ``exclusive``
    (exclusive), then the ``single`` locks (exclusive), each group in id order."""
    groups = sorted({*shared, *exclusive})
    order = [*groups, *sorted(set(single) - set(groups))]
    if not order:
        return
    exclusive_ids = set(exclusive) | set(single)
    conn.execute(
        _TAKE, {"ids": int_array(order), "exclusive": bool_array([i in exclusive_ids for i in order])}
    )
