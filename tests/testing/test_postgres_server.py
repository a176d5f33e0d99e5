"""The test PostgreSQL server, and the fresh-database fixture built on it."""

from __future__ import annotations

import psycopg
import pytest

from hubsync.testing import PostgresServer, PostgresServerError
from tests.fixtures.services import fresh_database

pytestmark = pytest.mark.integration


def test_connects_to_a_recent_server(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.info.server_version >= 140000
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_fresh_database_is_empty_and_dropped_afterwards(database_url: str) -> None:
    # What the fresh_database_url fixture runs, driven by hand to check the state after it too.
    with fresh_database(database_url) as url:
        with psycopg.connect(url) as conn:
            name = conn.execute("SELECT current_database()").fetchone()
            relations = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            ).fetchone()
        assert name is not None
        assert name[0] != "hubsync_test"
        assert relations == (0,)
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name[0],)).fetchone()
    assert left == (0,)


def test_fresh_database_url_fixture(fresh_database_url: str, database_url: str) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.commit()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_start_failure_reports_the_server_log() -> None:
    server = PostgresServer(settings={"shared_buffers": "'lots'"})
    with pytest.raises(PostgresServerError, match=r"did not start(.|\n)*shared_buffers"):
        server.start()
    assert server.work_dir is not None
    assert not server.work_dir.exists()


@pytest.mark.integration
def test_restart_cuts_every_session_and_keeps_the_data_and_the_port() -> None:
    with PostgresServer() as pg:
        url, port = pg.url, pg.port
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (42)")
            pg.restart(down_s=0.2)
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        assert pg.port == port and pg.is_running()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
