"""PostgreSQL connection pools with every resilience option set explicitly.

psycopg_pool's defaults are reasonable, but a sync service should say what it relies on:
how many connections, how long a caller waits, how stale a connection may get, how a broken
one is noticed and how long reconnecting is tried before giving up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection, Connection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from hubsync.settings import with_options

log = logging.getLogger(__name__)


def json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """jsonb and json columns parsed with orjson (about three times faster than the standard
    library on records' properties, a hot path of ingest and the canonical reads); a document
    orjson refuses (a number past a double's range; it reads an integer over 64 bits as a float, as
    the standard library would not) falls back to the standard library."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


# process-wide: every connection hubsync opens (pools and direct connections) parses JSON this way
set_json_loads(json_loads)


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Pool sizing and resilience options (seconds for every duration)."""

    min_size: int = 1
    max_size: int = 8
    #: how long a caller waits for a connection before PoolTimeout
    timeout: float = 30.0
    #: callers allowed to queue for a connection before TooManyRequests (0 = unbounded)
    max_waiting: int = 64
    #: connections are replaced after this age, so server-side state does not pile up
    max_lifetime: float = 30 * 60.0
    #: idle connections above min_size are closed after this long
    max_idle: float = 5 * 60.0
    #: how long to keep trying to reconnect before reporting the pool as broken
    reconnect_timeout: float = 5 * 60.0
    #: background workers that open and check connections
    num_workers: int = 2
    connect_timeout: int = 10
    application_name: str = "hubsync"

    def connection_kwargs(self) -> dict[str, Any]:
        """Connection options: TCP keepalives so a dead peer is noticed, a connect timeout, and
        no prepared statements (``prepare_threshold=None``, see :data:`SESSION_OPTIONS`)."""
        return {
            "application_name": self.application_name,
            "connect_timeout": self.connect_timeout,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "prepare_threshold": None,
        }


def _reconnect_failed(pool: ConnectionPool[Any] | AsyncConnectionPool[Any]) -> None:
    log.error("PostgreSQL pool %s could not reconnect within its reconnect_timeout", pool.name)


def _pool_options(cfg: PoolConfig) -> dict[str, Any]:
    """The options both pool flavours take, from one config."""
    return {
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "timeout": cfg.timeout,
        "max_waiting": cfg.max_waiting,
        "max_lifetime": cfg.max_lifetime,
        "max_idle": cfg.max_idle,
        "reconnect_timeout": cfg.reconnect_timeout,
        "reconnect_failed": _reconnect_failed,
        "num_workers": cfg.num_workers,
        "kwargs": cfg.connection_kwargs(),
        "open": False,
    }


#: session settings of every pooled connection (docs/performance.md#ingest-at-scale):
#: * ``jit=off``: hubsync's queries are sized for a batch and read through indexes, yet at
#:   1,000,000 contacts the duplicate-detection statement's estimated cost crossed
#:   ``jit_above_cost`` and compiling it took ~30 ms of a ~40 ms statement, every batch;
#: * no ``plan_cache_mode`` setting, but no prepared statements either (``prepare_threshold=None``
#:   in :meth:`PoolConfig.connection_kwargs`): psycopg would prepare a statement run five times, and
#:   PostgreSQL's generic plan for it estimates ``unnest`` of the batch's id array at 10 rows. For
#:   the canonical-record read that chose a nested loop re-reading the whole batch for every
#:   duplicate pair (1.3-1.6 s per batch of 2,000 at 1,000,000 contacts, against ~25 ms planned
#:   with the batch's real size). Unprepared, every statement is planned for its parameters (well
#:   under a millisecond per batch statement). ``plan_cache_mode=force_custom_plan`` did the same
#:   until session 13, but it also re-planned the server's own cached plans on every use: the
#:   foreign-key check of each ``contact_emails`` row (15.5 µs a row instead of 6.5, while that key
#:   existed: migration 0016 checks the keys per statement) and the triggers' statements;
#: * ``random_page_cost=1.1`` (PostgreSQL's default, 4.0, prices a random read as a disk seek): the
#:   records and keys a batch looks up are cached, yet with 4.0 duplicate detection for a batch of
#:   2,000 over ~30,000 contacts hashed the whole table three times instead of looking the batch up
#:   in the indexes (74 ms against 31 ms per batch).
SESSION_OPTIONS = "-c jit=off -c random_page_cost=1.1"


def open_pool(
    conninfo: str, config: PoolConfig | None = None, *, name: str = "hubsync"
) -> ConnectionPool[Any]:
    """A started synchronous pool; the caller closes it (or uses it as a context manager)."""
    cfg = config or PoolConfig()
    pool: ConnectionPool[Connection[Any]] = ConnectionPool(
        with_options(conninfo, SESSION_OPTIONS),
        name=name,
        check=ConnectionPool.check_connection,
        **_pool_options(cfg),
    )
    pool.open(wait=True, timeout=cfg.timeout)
    return pool


async def open_async_pool(
    conninfo: str, config: PoolConfig | None = None, *, name: str = "hubsync"
) -> AsyncConnectionPool[Any]:
    """A started asyncio pool, for the Faust agents and the aiohttp servers."""
    cfg = config or PoolConfig()
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        with_options(conninfo, SESSION_OPTIONS),
        name=name,
        check=AsyncConnectionPool.check_connection,
        **_pool_options(cfg),
    )
    await pool.open(wait=True, timeout=cfg.timeout)
    return pool
