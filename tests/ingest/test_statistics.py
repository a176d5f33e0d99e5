"""Growth-triggered ANALYZE runs in the background, once per growth step."""

from __future__ import annotations

import psycopg
import pytest

from hubsync.ingest.apply import IngestContext, apply_batch
from hubsync.ingest.statistics import StatisticsKeeper
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.storage.migrate import migrate
from hubsync.storage.pool import open_pool
from tests.ingest import events_factory as f

pytestmark = pytest.mark.integration

AT = 1_767_000_000_000


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


def test_analyze_reads_the_columns_ingest_plans_on_with_a_small_sample_and_leaves_the_rest_to_autovacuum(
    seeded_database_url: str,
) -> None:
    events = f.ces(
        [
            f.snapshot(str(i), {"email": f"p{i}@example.org", "firstname": f"P{i}", "lastname": "L"}, at=AT)
            for i in range(1, 21)
        ]
    )
    with psycopg.connect(seeded_database_url) as conn:
        ctx = IngestContext(
            mappings=load_mappings(conn),
            definitions={k: effective_definitions(conn, k) for k in ("contact", "account")},
        )
        apply_batch(conn, events, ctx)
        conn.commit()
    with open_pool(seeded_database_url) as pool:
        keeper = StatisticsKeeper(pool, minimum=1)
        assert keeper.note(20) is True
        keeper.wait(30)
        assert keeper.runs == 1
    with psycopg.connect(seeded_database_url) as conn:
        analyzed = {
            (table, column)
            for table, column in conn.execute(
                "SELECT tablename, attname FROM pg_stats WHERE schemaname = 'hubsync'"
            ).fetchall()
        }
        # 20 distinct ids: a histogram of all 20 at the server's target, 11 bounds at the keeper's 10
        id_bounds = conn.execute(
            "SELECT array_length(histogram_bounds::text::bigint[], 1) FROM pg_stats"
            " WHERE schemaname = 'hubsync' AND tablename = 'contacts_all' AND attname = 'id'"
        ).fetchone()
        activity = conn.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = 'hubsync'"
            " AND relname = 'activity_log_all'"
        ).fetchone()
    for column in ("id", "hubspot_id", "name_normalized", "company_name_key", "merged_into_id"):
        assert ("contacts_all", column) in analyzed, column
    assert ("contact_emails_all", "email_normalized") in analyzed
    assert ("contacts_all", "properties") not in analyzed
    assert ("contacts_all", "property_versions") not in analyzed
    assert activity is not None and activity[0] is None
    assert id_bounds == (StatisticsKeeper.statistics_target + 1,)
