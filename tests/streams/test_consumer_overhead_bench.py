"""The consumer-overhead benchmark's short version: each consumer sees every event exactly once
(the full run is ``python -m bench.consumer_overhead``; docs/performance.md)."""

from __future__ import annotations

import pytest
from bench import consumer_overhead


@pytest.mark.integration
def test_every_consumer_sees_every_event_once(kafka_bootstrap_servers: str) -> None:
    runs = consumer_overhead.measure(kafka_bootstrap_servers, 3_000, 1)
    assert set(runs) == {"librdkafka", "faust", "decode"}
    assert consumer_overhead.problems_of(runs, 3_000) == []
    assert all(r["cpu_s"] > 0 and r["seconds"] > 0 for results in runs.values() for r in results)
    rows = {row["metric"] for row in consumer_overhead.rows_of(runs)}
    assert "faust: CPU per event" in rows and "librdkafka: events/s" in rows


def test_a_missed_or_repeated_event_is_a_problem() -> None:
    ok = {"messages": 10, "distinct": 10, "seconds": 1.0, "cpu_s": 1.0}
    repeated = {**ok, "messages": 11}
    missed = {**ok, "messages": 9, "distinct": 9}
    assert consumer_overhead.problems_of({"faust": [ok]}, 10) == []
    assert len(consumer_overhead.problems_of({"faust": [repeated], "librdkafka": [missed]}, 10)) == 2
