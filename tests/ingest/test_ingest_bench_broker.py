"""The ingest benchmark's broker waits for a new consumer group's members, as a production broker does.

With the test broker's ``group.initial.rebalance.delay.ms`` of 0 the first of a worker's lane consumers to
join got all six partitions and applied alone until the others joined a heartbeat later, inside the
benchmark's measured phase (docs/performance.md, session 19).
"""

from __future__ import annotations

import pytest
from bench.ingest import GROUP_JOIN_DELAY_MS, group_join_delay_ms, servers

from hubsync.testing.kafka_server import SMALL_BROKER

pytestmark = pytest.mark.integration


def test_the_benchmark_starts_its_broker_with_kafkas_default_group_join_delay(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)  # the broker alone is started
    with servers() as (bootstrap, server_url):
        assert server_url == database_url
        assert group_join_delay_ms(bootstrap) == GROUP_JOIN_DELAY_MS == 3_000


def test_the_report_reads_the_brokers_own_setting(kafka_bootstrap_servers: str) -> None:
    # the tests' broker joins groups at once (hubsync.testing's SMALL_BROKER)
    assert group_join_delay_ms(kafka_bootstrap_servers) == int(
        SMALL_BROKER["group.initial.rebalance.delay.ms"]
    )
