"""``hubsync status`` against real Kafka and PostgreSQL: lag, DLQ, outbox, errors, records."""

from __future__ import annotations

import json

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from hubsync.cli import app
from tests.ingest.worker_harness import prepare_worker, produce

pytestmark = pytest.mark.integration


def test_status_reports_lag_backlog_errors_and_records(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=2)
    topic = setup.topics.hubspot_contacts
    produced = produce(kafka_bootstrap_servers, topic, [(b"k", b"v", i % 2) for i in range(6)])
    produce(kafka_bootstrap_servers, setup.topics.dlq, [(b"k", b"dead", 0)])
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute(
            "INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id) VALUES ('hubspot', 'synced', '1')"
        )
        conn.execute(
            "INSERT INTO hubsync.outbox (aggregatetype, aggregateid, type, payload) VALUES ('contact', '1', 'UPDATED', '{}')"
        )
        conn.execute(
            "INSERT INTO hubsync.push_errors (object_type, record_id, operation, category, message)"
            " VALUES ('contact', 1, 'update', 'VALIDATION_ERROR', 'bad')"
        )
        conn.execute(
            "INSERT INTO hubsync.portals (portal_id, status, status_reason) VALUES (1, 'active', NULL),"
            " (2, 'revoked', 'HubSpot refused the refresh_token grant: BAD_REFRESH_TOKEN')"
        )

    def status() -> dict[str, object]:
        result = CliRunner().invoke(app, ["status", "--json"], env=dict(setup.env))
        assert result.exit_code == 0, result.output
        data: dict[str, object] = json.loads(result.output)
        return data

    first = status()
    lag = {row["topic"]: row for row in first["consumer_lag"]}  # type: ignore[attr-defined]
    assert lag[topic]["messages"] == 6 and lag[topic]["lag"] == 6
    assert first["dlq_messages"] == 1
    assert first["outbox"]["unpublished"] == 1  # type: ignore[index]
    assert first["push_errors_open"] == {"VALIDATION_ERROR": 1}
    assert first["records"]["contacts"] == {"synced": 1}  # type: ignore[index]
    assert first["portals"] == {  # the public app's installs, and why one does not sync
        "by_status": {"active": 1, "revoked": 1},
        "not_syncing": [
            {
                "portal_id": 2,
                "status": "revoked",
                "reason": "HubSpot refused the refresh_token grant: BAD_REFRESH_TOKEN",
            }
        ],
    }
    text = CliRunner().invoke(app, ["status"], env=dict(setup.env)).output
    assert "portals (public app): active 1, revoked 1" in text and "portal 2 revoked: HubSpot refused" in text

    # the realtime lane's group commits four of the six: lag 2
    committer = Consumer({"bootstrap.servers": kafka_bootstrap_servers, "group.id": setup.ingest_group})
    ends: dict[int, int] = {}
    for p in produced:
        ends[p.partition] = max(ends.get(p.partition, 0), p.offset + 1)
    committer.commit(
        offsets=[TopicPartition(topic, part, end - 1) for part, end in ends.items()], asynchronous=False
    )
    committer.close()
    second = status()
    lag = {row["topic"]: row for row in second["consumer_lag"]}  # type: ignore[attr-defined]
    assert lag[topic]["lag"] == 2
