"""The ingest benchmark's oracle (bench/_existing.py) passes a correct ingest and catches a wrong one.

Not a timed test: a small scale (existing contacts seeded through ingest's own writer, then
updates and new contacts applied by ``apply_batch``) must satisfy the oracle, and each kind of
damage the oracle exists to catch must be reported.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from bench._existing import check_against_oracle, drop, scale_events, seeded_template

from hubsync.ingest.apply import apply_batch
from hubsync.ingest.events import change_event
from hubsync.ingest.processor import ContextCache
from hubsync.testing.databases import with_database

pytestmark = pytest.mark.integration


def test_the_oracle_accepts_ingest_and_reports_each_damage(database_url: str) -> None:
    scale = scale_events(existing=300, new=600, updates=100)
    assert len(scale.updated_ids) == 100 and len(scale.new_ids) == 600
    server = with_database(database_url, "postgres")
    name = f"hubsync_test_oracle_{uuid.uuid4().hex[:8]}"
    url = seeded_template(server, name, scale)
    try:
        with psycopg.connect(url) as conn:
            context = ContextCache().get(conn)
            with conn.transaction():
                apply_batch(conn, [change_event(value) for _, value in scale.events], context)
        assert check_against_oracle(url, scale, crm_messages=len(scale.expected)) == []

        updated = sorted(scale.updated_ids)[0]
        with psycopg.connect(url) as conn:
            conn.execute(  # an update the version guard should have taken is undone
                'UPDATE hubsync.contacts SET properties = properties || \'{"lastname": "Old"}\''
                " WHERE hubspot_id = %s",
                (updated,),
            )
            conn.execute(  # one planted duplicate pair is lost
                "DELETE FROM hubsync.potential_duplicates WHERE (record_a, record_b, signal) IN"
                " (SELECT record_a, record_b, signal FROM hubsync.potential_duplicates"
                "   WHERE signal = 'email' LIMIT 1)"
            )
        problems = check_against_oracle(url, scale, crm_messages=len(scale.expected) - 1)
        assert any(updated in p and "Old" in p for p in problems), problems
        assert any("planted duplicate pairs not flagged" in p for p in problems), problems
        assert any("crm.contacts messages" in p for p in problems), problems
    finally:
        drop(server, name)
