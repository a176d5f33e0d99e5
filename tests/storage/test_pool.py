"""Connection pools open, serve queries, recover a killed connection and close."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from hubsync.matching.duplicates import _CONTACT_PAIRS, _given_keys
from hubsync.matching.freemail import FREEMAIL_DOMAINS
from hubsync.storage.migrate import migrate
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


def test_pooled_sessions_plan_each_batch_statement_for_its_batch(database_url: str) -> None:
    """No JIT, and no prepared statements (docs/performance.md#ingest-at-scale): a generic plan
    guesses a batch's unnested id array at 10 rows; every run of this one must see 2,000."""
    statement = "EXPLAIN SELECT * FROM unnest(%s::bigint[]) AS u(id)"
    with open_pool(database_url, PoolConfig(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
        plans = [conn.execute(statement, (list(range(2_000)),)).fetchone() for _ in range(8)]
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    # psycopg's default prepares a statement from its fifth run; a pooled connection never does
    assert prepared == (0,)
    assert all(plan is not None and "rows=2000" in plan[0] for plan in plans), plans


def test_pooled_sessions_keep_the_server_s_cached_plans(database_url: str) -> None:
    """``plan_cache_mode`` stays PostgreSQL's ``auto``: ``force_custom_plan`` (used until session 13)
    also re-plans the server's own statements, such as each foreign-key check of a row inserted
    into ``contact_emails`` (15.5 µs a row instead of 6.5, measured in docs/performance.md)."""
    with open_pool(database_url, PoolConfig(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        assert conn.execute("SHOW plan_cache_mode").fetchone() == ("auto",)


def test_pooled_sessions_find_a_batch_s_duplicates_through_the_indexes(fresh_database_url: str) -> None:
    """``random_page_cost=1.1`` (docs/deploy.md#postgresql): with PostgreSQL's default of 4.0, the
    duplicate-detection statement for a batch of 2,000 over 30,000 contacts hashed the whole
    contacts table three times (measured 74 ms, against 31 ms through the indexes)."""
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hubsync.contacts (hubspot_id, creation_source, crm_status, name_normalized,"
            " company_name_key, company_domain_root, properties)"
            " SELECT g::text, 'hubspot', 'synced', 'name ' || g, 'company ' || (g % 5000),"
            " 'acme' || (g % 5000) || '.com', jsonb_build_object('email', 'p' || g || '@acme.com',"
            " 'notes', repeat('x', 300)) FROM generate_series(1, 30000) g"
        )
        conn.execute(
            "INSERT INTO hubsync.contact_emails_all (portal_id, contact_id, email_normalized, is_primary)"
            " SELECT portal_id, id, 'p' || hubspot_id || '@acme.com', true FROM hubsync.contacts_all"
        )
        conn.execute("ANALYZE hubsync.contacts_all, hubsync.contact_emails_all")
    ids = list(range(10_001, 12_001))
    with open_pool(fresh_database_url, PoolConfig(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        assert conn.execute("SHOW random_page_cost").fetchone() == ("1.1",)
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(
                "EXPLAIN " + _CONTACT_PAIRS,
                {"ids": ids, "freemail": sorted(FREEMAIL_DOMAINS), **_given_keys("contact", {})},
            )
        )
    assert "Seq Scan on contacts_all" not in plan, plan


def test_session_options_keep_the_connection_string_s_own(database_url: str) -> None:
    scoped = psycopg.conninfo.make_conninfo(database_url, options="-c hubsync.portal=7")
    with open_pool(scoped, PoolConfig(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        assert conn.execute("SELECT current_setting('hubsync.portal')").fetchone() == ("7",)
        assert conn.execute("SHOW jit").fetchone() == ("off",)
