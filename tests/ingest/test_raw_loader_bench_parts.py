"""The ingest benchmark's parts (bench/_change_events.py, bench/_raw_loader.py) still work.

Not a timed test: it only checks that generated events encode, reach Kafka and that the raw
loader loads every one of them.
"""

from __future__ import annotations

import uuid
from collections import Counter

import psycopg
import pytest
from bench._change_events import contact_snapshot_events, produce_events
from bench._raw_loader import raw_load

from hubsync.storage.migrate import migrate

N = 2_000


def test_events_are_deterministic_snapshots_with_planted_duplicates() -> None:
    events = list(contact_snapshot_events(N, seed=3, duplicate_ratio=0.05, start_id=1000))
    assert events == list(contact_snapshot_events(N, seed=3, duplicate_ratio=0.05, start_id=1000))
    assert [k for k, _ in events] == [str(i).encode() for i in range(1000, 1000 + N)]
    for key, value in events[:50]:
        assert value["object_id"] == key.decode()
        assert (value["change_type"], value["source"], value["object_type"]) == (
            "SNAPSHOT",
            "BACKFILL",
            "CONTACT",
        )
        assert value["updated_at"] == value["occurred_at"]
        assert value["property_timestamps"]["email"] <= value["updated_at"]
        assert {"email", "firstname", "lastname", "company", "lastmodifieddate"} <= set(value["properties"])
    primary = Counter(v["properties"]["email"].lower() for _, v in events)
    additional = {
        e for _, v in events for e in (v["properties"].get("hs_additional_emails") or "").split(";") if e
    }
    shared = sum(n - 1 for n in primary.values() if n > 1) + len(additional & set(primary))
    assert 0.02 * N <= shared <= 0.08 * N  # about 5% of the contacts share an address


@pytest.mark.integration
def test_raw_loader_loads_every_produced_event(kafka_bootstrap_servers: str, fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    topic = f"test.raw-loader.{uuid.uuid4().hex[:8]}"
    produced = produce_events(kafka_bootstrap_servers, topic, contact_snapshot_events(N, seed=11), 3)
    assert produced == N

    result = raw_load(kafka_bootstrap_servers, topic, fresh_database_url, N, batch_size=500)

    assert result.events == N
    assert result.events_per_s > 0
    # a sample at the first batch received and after each commit, for the steady rate (bench/_rates.py)
    loaded = [n for _, n in result.progress]
    assert loaded[0] == 0 and loaded[-1] == N and loaded == sorted(set(loaded)) and len(loaded) >= 5
    assert result.steady_events_per_s > 0
    with psycopg.connect(fresh_database_url) as conn:
        rows, distinct, with_email = conn.execute(
            "SELECT count(*), count(DISTINCT hubspot_id), count(email) FROM hubsync.contacts"
        ).fetchone() or (0, 0, 0)
        sample = conn.execute(
            "SELECT creation_source, properties ->> 'firstname' = first_name, hubspot_updated_at IS NOT NULL"
            " FROM hubsync.contacts WHERE hubspot_id = '1'"
        ).fetchone()
    assert (rows, distinct, with_email) == (N, N, N)
    assert sample == ("hubspot", True, True)
