"""``hubsync replay``: a mapping changed after the pull takes effect by replaying the change log."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.cli import app
from hubsync.cli import replay as replay_command_module
from hubsync.ingest.agents import ingest_processor
from hubsync.ingest.replay import replay
from tests.ingest.events_factory import snapshot
from tests.ingest.worker_harness import prepare_worker, produce, scalar

pytestmark = pytest.mark.integration
CONTACT = "CONTACT"


def _events(topic: str) -> list[tuple[bytes | None, bytes | None, int | None]]:
    repo = SchemaRepository()
    codec = SingleObjectCodec(repo)
    schema = repo.current("hubspot_change_event")
    people = [
        ("1", {"email": "ada@acme.com", "firstname": "Ada", "lastname": "Lovelace", "jobtitle": None}),
        ("2", {"email": "alan@acme.com", "firstname": "Alan", "lastname": "Turing", "jobtitle": "CEO"}),
        ("3", {"email": "grace@navy.mil", "firstname": "Grace", "lastname": "Hopper", "jobtitle": None}),
    ]
    out: list[tuple[bytes | None, bytes | None, int | None]] = []
    for hubspot_id, props in people:
        value = snapshot(hubspot_id, props, at=1_000)
        out.append((hubspot_id.encode(), codec.encode(topic, schema, value), None))
    return out


def query(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def _outbox(url: str) -> list[dict[str, Any]]:
    return query(url, "SELECT aggregateid, type, payload FROM hubsync.outbox ORDER BY seq")


def test_replay_applies_a_mapping_changed_after_the_pull_once(
    kafka_bootstrap_servers: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=2)
    url = fresh_database_url
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE hubsync.field_mappings SET mode = 'none' WHERE hubspot_property = 'jobtitle'")
        conn.execute(
            "INSERT INTO hubsync.prospect_people (email_normalized, attributes) VALUES"
            " ('ada@acme.com', '{\"jobtitle\": \"Countess\"}'), ('alan@acme.com', '{\"jobtitle\": \"CTO\"}')"
        )
    topic = setup.topics.hubspot_contacts
    produce(kafka_bootstrap_servers, topic, _events(topic))

    async def pull() -> None:  # the worker's pass, with jobtitle not mapped
        async with ingest_processor(setup.settings, SingleObjectCodec(SchemaRepository())) as processor:
            await replay(processor, kafka_bootstrap_servers, [topic])

    asyncio.run(pull())
    assert scalar(url, "SELECT count(*) FROM hubsync.contacts") == 3
    assert _outbox(url) == []

    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE hubsync.field_mappings SET mode = 'autofill' WHERE hubspot_property = 'jobtitle'"
        )
    tuned: list[bool] = []  # the command tunes the garbage collector (not this test process's)
    monkeypatch.setattr(replay_command_module, "tune_collector", lambda: tuned.append(True))
    runner = CliRunner()
    result = runner.invoke(app, ["replay", "contacts", "--json"], env=dict(setup.env))
    assert result.exit_code == 0, result.output
    assert tuned == [True]
    assert '"autofills": 1' in result.output and '"messages": 3' in result.output

    ada = query(url, "SELECT id, properties FROM hubsync.contacts WHERE hubspot_id = '1'")[0]
    assert ada["properties"]["jobtitle"] == "Countess"
    alan = query(url, "SELECT properties FROM hubsync.contacts WHERE hubspot_id = '2'")[0]
    assert alan["properties"]["jobtitle"] == "CEO"  # autofill only fills empty fields
    [row] = _outbox(url)
    assert row["aggregateid"] == str(ada["id"]) and row["type"] == "MAPPED_VALUES"
    assert row["payload"]["changed_fields"] == {"jobtitle": "Countess"}
    assert row["payload"]["field_rules"] == {"jobtitle": "autofill"}
    [logged] = query(url, "SELECT rule, after FROM hubsync.activity_log WHERE action = 'autofilled'")
    assert logged["rule"] == "autofill" and logged["after"] == "Countess"

    again = runner.invoke(app, ["replay", "contacts", "--json"], env=dict(setup.env))
    assert again.exit_code == 0, again.output
    assert '"autofills": 0' in again.output
    assert len(_outbox(url)) == 1  # replaying twice changes nothing more


def test_replay_rejects_a_since_without_a_zone(kafka_bootstrap_servers: str, fresh_database_url: str) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    result = CliRunner().invoke(app, ["replay", "--since", "2026-01-01T00:00:00"], env=dict(setup.env))
    assert result.exit_code == 2
    assert "zone" in result.output
