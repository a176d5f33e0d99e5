"""PostgreSQL advisory locks by name: stable ids, taken in one statement, in one order.

Every writer takes its locks through :func:`take_locks`: the "whole kind" locks first (shared, or
exclusive when one stands in for many single locks), then the single locks, each group in id
order. Every transaction asking in that order cannot deadlock with another on these locks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

import psycopg

_TAKE = """
SELECT CASE WHEN k.exclusive THEN pg_advisory_xact_lock(k.id) ELSE pg_advisory_xact_lock_shared(k.id) END
  FROM unnest(%(ids)s::bigint[], %(exclusive)s::boolean[]) WITH ORDINALITY AS k(id, exclusive, n)
 ORDER BY k.n
"""


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
    conn.execute(_TAKE, {"ids": order, "exclusive": [i in exclusive_ids for i in order]})
