"""Growth-triggered ANALYZE runs in the background, once per growth step."""

from __future__ import annotations

import psycopg
import pytest

from hubsync.ingest.statistics import StatisticsKeeper
from hubsync.storage.migrate import migrate
from hubsync.storage.pool import open_pool

pytestmark = pytest.mark.integration


def last_analyze(url: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = 'hubsync' AND relname = 'contacts_all'"
        ).fetchone()
        return row[0] if row else None


def test_analyze_runs_in_the_background_when_the_tables_have_grown(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    with open_pool(fresh_database_url) as pool:
        keeper = StatisticsKeeper(pool, minimum=100, growth=0.5)
        assert keeper.note(99) is False
        keeper.wait()
        assert keeper.runs == 0 and last_analyze(fresh_database_url) is None
        assert keeper.note(1) is True  # 100 new records since the start
        keeper.wait(30)
        assert keeper.runs == 1 and last_analyze(fresh_database_url) is not None
        assert keeper.note(99) is False  # the next step needs max(100, half of 100) more
        assert keeper.note(1) is True
        keeper.wait(30)
        assert keeper.runs == 2
