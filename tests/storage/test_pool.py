"""Connection pools open, serve queries, recover a killed connection and close."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from hubsync.storage.pool import PoolConfig, open_async_pool, open_pool

pytestmark = pytest.mark.integration


def test_sync_pool_replaces_a_connection_killed_by_the_server(database_url: str) -> None:
    config = PoolConfig(min_size=1, max_size=2, timeout=10.0, application_name="hubsync-pool-test")
    with open_pool(database_url, config) as pool:
        with pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            name = conn.execute("SHOW application_name").fetchone()
        assert name == ("hubsync-pool-test",)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", pid)
        # the checkout health check notices the dead connection and hands out a good one
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert pool.closed


def test_async_pool(database_url: str) -> None:
    async def run() -> int:
        pool = await open_async_pool(database_url, PoolConfig(min_size=1, max_size=2))
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT 41 + 1")
                row = await cur.fetchone()
                assert row is not None
                return int(row[0])
        finally:
            await pool.close()

    assert asyncio.run(run()) == 42
