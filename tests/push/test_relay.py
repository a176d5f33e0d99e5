"""The outbox relay against a real PostgreSQL and a real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.push.relay import (
    HEADER_ID,
    HEADER_TYPE,
    OUTBOX_SOURCE,
    OutboxRelay,
    RelayConfig,
    relay_from_settings,
)
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from hubsync.storage.outbox import OutboxEvent, append_outbox, payload_to_avro
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.topics import topic_specs
from hubsync.testing import async_wait_for, wait_for
from tests.ingest.worker_harness import TopicDrain

pytestmark = pytest.mark.integration

PARTITIONS = 3
CODEC = SingleObjectCodec(SchemaRepository())
CHANGE = CODEC.repository.current("platform_change_event")
DEAD = CODEC.repository.current("dead_letter")
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Setup:
    bootstrap: str
    database_url: str
    settings: Settings

    @property
    def topics(self) -> TopicNames:
        return self.settings.topics

    def drain(self, topic: str, expected: int, timeout: float = 20.0) -> list[Message]:
        """Every message of ``topic`` once there are at least ``expected``."""
        with TopicDrain(self.bootstrap, topic, PARTITIONS) as drain:

            def enough() -> tuple[list[Message]] | None:
                messages = drain.drain()
                return (messages,) if len(messages) >= expected else None

            (messages,) = wait_for(
                enough,
                timeout=timeout,
                interval=0.2,
                what=lambda: f"{expected} messages on {topic} ({len(drain.messages)} so far)",
            )
            return messages

    def env(self, **extra: str) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HUBSYNC_", "HUBSPOT_"))
            and k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SCHEMA_REGISTRY_URL")
        }
        names = self.topics.model_dump()
        return {
            **inherited,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url,
            "HUBSYNC_METRICS_PORT": "0",
            "HUBSYNC_METRICS_HOST": "127.0.0.1",
            "HUBSYNC_DEV_DIR": "/nonexistent-hubsync-dev",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "COLUMNS": "400",
            **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in names.items()},
            **extra,
        }


@pytest.fixture
def setup(kafka_bootstrap_servers: str, fresh_database_url: str) -> Setup:
    migrate(fresh_database_url)
    uid = uuid.uuid4().hex[:10]
    names = {role: f"test.relay.{uid}.{role.replace('_', '.')}" for role in TopicNames.model_fields}
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        database_url=SecretStr(fresh_database_url),
        topics=TopicNames(**names),
        topic_partitions=PARTITIONS,
    )
    ensure_topics(admin_client(kafka_bootstrap_servers), topic_specs(settings))
    return Setup(kafka_bootstrap_servers, fresh_database_url, settings)


def event(record_id: int, n: int, *, object_type: str = "CONTACT", **extra: Any) -> OutboxEvent:
    return OutboxEvent(
        object_type=object_type,  # type: ignore[arg-type]
        record_id=record_id,
        change_type="UPDATED",
        occurred_at=AT + timedelta(seconds=n),
        hubspot_id=f"90{record_id}",
        changed_fields={"jobtitle": f"title {n}"},
        field_rules={"jobtitle": "platform"},
        field_timestamps={"jobtitle": AT + timedelta(seconds=n)},
        **extra,
    )


def append(url: str, events: list[OutboxEvent]) -> list[uuid.UUID]:
    with psycopg.connect(url) as conn:
        return append_outbox(conn, events)


def insert_raw(url: str, aggregatetype: str, aggregateid: str, payload: Any) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO hubsync.outbox (aggregatetype, aggregateid, type, payload) VALUES (%s, %s, 'UPDATED', %s)",
            (aggregatetype, aggregateid, Jsonb(payload)),
        )


def unpublished(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM hubsync.outbox WHERE published_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def headers(message: Message) -> dict[str, str]:
    pairs = message.headers() or []
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in dict(pairs).items()}


def decoded(message: Message) -> dict[str, Any]:
    return CODEC.decode(str(message.topic()), CHANGE, message.value(), plain=True)


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` on the loop until it holds (fails after ``timeout``)."""
    await async_wait_for(condition, timeout=timeout, interval=0.02, what=what)


@contextlib.asynccontextmanager
async def running(setup: Setup, config: RelayConfig, name: str = "relay") -> AsyncIterator[OutboxRelay]:
    """A relay running in the background; stopped (and awaited) on the way out."""
    async with relay_from_settings(
        setup.settings, CODEC, config=config, registry=CollectorRegistry(), name=name
    ) as relay:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            yield relay
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def test_publishes_in_seq_order_with_keys_headers_and_values(setup: Setup) -> None:
    url = setup.database_url
    contacts = [event(1, 1), event(2, 2), event(1, 3), event(1, 4), event(3, 5)]
    accounts = [event(7, 6, object_type="ACCOUNT", manual=True), event(7, 7, object_type="ACCOUNT")]
    ids = append(url, [contacts[0], accounts[0], *contacts[1:], accounts[1]])
    by_id = dict(zip(ids, [contacts[0], accounts[0], *contacts[1:], accounts[1]], strict=True))
    registry = CollectorRegistry()

    async def scenario() -> int | None:
        async with relay_from_settings(
            setup.settings, CODEC, config=RelayConfig(batch_size=2), registry=registry
        ) as relay:
            return await relay.run_once()

    assert asyncio.run(scenario()) == 7
    assert unpublished(url) == 0

    for topic, expected in (
        (setup.topics.platform_contacts, contacts),
        (setup.topics.platform_accounts, accounts),
    ):
        messages = setup.drain(topic, len(expected))
        assert len(messages) == len(expected)
        for message in messages:
            head = headers(message)
            outbox_id = uuid.UUID(head[HEADER_ID])
            source = by_id[outbox_id]
            assert head[HEADER_TYPE] == "UPDATED"
            assert message.key() == str(source.record_id).encode()
            home = 0  # the home portal, not named yet
            assert decoded(message) == payload_to_avro(outbox_id, source.to_payload(), home)
        # per record, the messages come in the order the rows were written
        for record_id in {e.record_id for e in expected}:
            sent = [decoded(m)["occurred_at"] for m in messages if m.key() == str(record_id).encode()]
            assert sent == sorted(sent) and len(sent) == sum(e.record_id == record_id for e in expected)
    assert registry.get_sample_value(
        "hubsync_outbox_published_total", {"topic": setup.topics.platform_contacts}
    ) == len(contacts)
    assert registry.get_sample_value("hubsync_outbox_unpublished_rows") == 0


def test_notify_wakes_the_relay_long_before_the_poll_interval(setup: Setup) -> None:
    url = setup.database_url
    config = RelayConfig(poll_interval_s=30.0)

    async def scenario() -> None:
        async with running(setup, config) as relay:
            await wait_until(lambda: relay.active, "the relay to take the lock")
            await asyncio.sleep(0.3)  # idle, waiting on LISTEN
            for n in range(3):
                await asyncio.to_thread(append, url, [event(10 + n, n)])
                # a third of the poll interval: only the NOTIFY can have woken the relay this soon
                await wait_until(
                    lambda: unpublished(url) == 0, "the row to be published", config.poll_interval_s / 3
                )

    asyncio.run(scenario())
    assert len(setup.drain(setup.topics.platform_contacts, 3)) == 3


def test_rows_written_while_the_relay_is_down_are_published_after_restart(setup: Setup) -> None:
    url = setup.database_url
    config = RelayConfig(poll_interval_s=30.0)

    async def scenario() -> tuple[int, int]:
        async with running(setup, config) as first:
            await wait_until(lambda: first.active, "the first relay to start")
            await asyncio.to_thread(append, url, [event(1, 1), event(1, 2)])
            await wait_until(lambda: unpublished(url) == 0, "the first rows")
        assert not first.active
        await asyncio.to_thread(append, url, [event(1, 3), event(2, 4), event(1, 5)])  # nobody listening
        assert unpublished(url) == 3
        async with running(setup, config) as second:
            await wait_until(lambda: unpublished(url) == 0, "the rows written while down", timeout=5)
        return first.published, second.published

    assert asyncio.run(scenario()) == (2, 3)
    messages = setup.drain(setup.topics.platform_contacts, 5)
    record_1 = [decoded(m)["changed_fields"]["jobtitle"] for m in messages if m.key() == b"1"]
    assert record_1 == ["title 1", "title 2", "title 3", "title 5"]


def test_bad_payloads_go_to_the_dlq_and_do_not_block_later_rows(setup: Setup) -> None:
    url = setup.database_url
    append(url, [event(1, 1)])
    good = event(1, 2).to_payload()
    insert_raw(url, "contact", "1", {**good, "object_type": "PERSON"})  # not a symbol of the enum
    insert_raw(url, "lead", "1", good)  # no topic for it
    insert_raw(url, "contact", "1", ["not", "an", "object"])
    insert_raw(url, "contact", "2", good)  # key and record id disagree
    append(url, [event(1, 3)])

    async def scenario() -> int | None:
        async with relay_from_settings(setup.settings, CODEC, registry=CollectorRegistry()) as relay:
            return await relay.run_once()

    assert asyncio.run(scenario()) == 6
    assert unpublished(url) == 0
    published = setup.drain(setup.topics.platform_contacts, 2)
    assert [decoded(m)["changed_fields"]["jobtitle"] for m in published] == ["title 1", "title 3"]

    letters = setup.drain(setup.topics.dlq, 4)
    assert len(letters) == 4
    with psycopg.connect(url) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM hubsync.outbox ORDER BY seq").fetchall()]
    records = sorted(
        (CODEC.decode(str(m.topic()), DEAD, m.value()) for m in letters), key=lambda r: r["source_offset"]
    )
    assert [r["source_offset"] for r in records] == seqs[1:5]
    assert {r["source_topic"] for r in records} == {OUTBOX_SOURCE}
    assert {r["stage"] for r in records} == {"VALIDATE"}
    assert all(r["error_type"].endswith("InvalidOutboxPayloadError") for r in records)
    assert "object_type" in records[0]["error_message"]
    assert "lead" in records[1]["error_message"]
    assert json.loads(records[2]["original_value"]) == ["not", "an", "object"]
    assert records[3]["original_key"] == b"2"


@dataclass
class Background:
    """A relay started with :func:`start_relay`, stopped on its own with :meth:`stop`."""

    relay: OutboxRelay
    stop_event: asyncio.Event
    task: asyncio.Task[None]
    stack: contextlib.AsyncExitStack

    async def stop(self) -> None:
        self.stop_event.set()
        try:
            await asyncio.wait_for(self.task, 10)
        finally:
            await self.stack.aclose()


async def start_relay(setup: Setup, config: RelayConfig, name: str) -> Background:
    stack = contextlib.AsyncExitStack()
    relay = await stack.enter_async_context(
        relay_from_settings(setup.settings, CODEC, config=config, registry=CollectorRegistry(), name=name)
    )
    stop = asyncio.Event()
    return Background(relay, stop, asyncio.create_task(relay.run(stop)), stack)


def test_only_one_relay_publishes_and_the_standby_takes_over(setup: Setup) -> None:
    url = setup.database_url
    config = RelayConfig(poll_interval_s=30.0, standby_interval_s=0.2)

    async def scenario() -> None:
        a = await start_relay(setup, config, "relay-a")
        b: Background | None = None
        try:
            await wait_until(lambda: a.relay.active, "relay-a to take the lock")
            b = await start_relay(setup, config, "relay-b")
            await asyncio.sleep(1.0)  # several standby rounds
            assert a.relay.active and not b.relay.active
            await asyncio.to_thread(append, url, [event(n, n) for n in range(1, 6)])
            await wait_until(lambda: unpublished(url) == 0, "the first rows")
            await wait_until(lambda: a.relay.published >= 5, "relay-a to count its rows")
            assert (a.relay.published, b.relay.published) == (5, 0)

            await a.stop()
            standby = b
            # on its next standby round (0.2 s), well before a poll interval (30 s) could pass
            await wait_until(lambda: standby.relay.active, "relay-b to take over", timeout=5)
            await asyncio.to_thread(append, url, [event(n, 10 + n) for n in range(1, 4)])
            await wait_until(lambda: unpublished(url) == 0, "the rows after the takeover")
            assert (a.relay.published, b.relay.published) == (5, 3)
        finally:
            if not a.task.done():
                await a.stop()
            if b is not None:
                await b.stop()

    asyncio.run(scenario())
    messages = setup.drain(setup.topics.platform_contacts, 8)
    assert len(messages) == 8
    assert len({headers(m)[HEADER_ID] for m in messages}) == 8


def terminate_relay_sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'hubsync-relay'"
        ).fetchall()
    return len(rows)


def test_the_relay_reconnects_after_losing_its_database_session(setup: Setup) -> None:
    url = setup.database_url
    config = RelayConfig(poll_interval_s=30.0, backoff_initial_s=0.1)

    async def scenario() -> int:
        async with running(setup, config) as relay:
            await wait_until(lambda: relay.active, "the relay to take the lock")
            await asyncio.to_thread(append, url, [event(1, 1)])
            await wait_until(lambda: unpublished(url) == 0, "the first row")
            assert await asyncio.to_thread(terminate_relay_sessions, url) == 1  # as in a PostgreSQL restart
            await asyncio.to_thread(append, url, [event(1, 2), event(1, 3)])  # its NOTIFY is lost
            await wait_until(lambda: unpublished(url) == 0, "the rows after the reconnect", timeout=10)
            assert relay.active
            return relay.published

    assert asyncio.run(scenario()) == 3
    messages = setup.drain(setup.topics.platform_contacts, 3)
    assert [decoded(m)["changed_fields"]["jobtitle"] for m in messages] == ["title 1", "title 2", "title 3"]


def test_retention_deletes_only_old_published_rows(setup: Setup) -> None:
    url = setup.database_url
    ids = append(url, [event(1, 1), event(1, 2), event(1, 3)])
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE hubsync.outbox SET published_at = now() - interval '8 days' WHERE id = ANY(%s)",
            (ids[:2],),
        )
    append(url, [event(1, 4)])
    registry = CollectorRegistry()

    async def scenario() -> int | None:
        async with relay_from_settings(setup.settings, CODEC, registry=registry) as relay:
            return await relay.run_once()

    assert asyncio.run(scenario()) == 2  # the unpublished rows 3 and 4
    with psycopg.connect(url) as conn:
        left = {r[0] for r in conn.execute("SELECT id FROM hubsync.outbox").fetchall()}
    assert ids[2] in left and ids[0] not in left and ids[1] not in left and len(left) == 2
    assert registry.get_sample_value("hubsync_outbox_deleted_total") == 2


def test_lag_metrics(setup: Setup) -> None:
    url = setup.database_url
    append(url, [event(1, 1), event(2, 2)])
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE hubsync.outbox SET created_at = now() - interval '90 seconds'")
    registry = CollectorRegistry()

    async def scenario() -> None:
        async with (
            relay_from_settings(setup.settings, CODEC, registry=registry) as relay,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
        ):
            await relay.refresh_lag(conn)

    asyncio.run(scenario())
    assert registry.get_sample_value("hubsync_outbox_unpublished_rows") == 2
    age = registry.get_sample_value("hubsync_outbox_oldest_unpublished_age_seconds")
    assert age is not None and 89 < age < 150


# ---- the CLI process -----------------------------------------------------------------------------


def _hubsync() -> list[str]:
    script = Path(sys.executable).with_name("hubsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hubsync"]


@contextlib.contextmanager
def relay_process(setup: Setup, *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*_hubsync(), "relay", *args],
        env=setup.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_sync(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[str], timeout: float = 30
) -> None:
    """Poll ``condition`` until it holds; fail at once with the relay's output when it exits."""

    def held() -> bool:
        if condition():
            return True
        if process.poll() is not None:
            raise AssertionError(
                f"relay exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}"
            )
        return False

    wait_for(held, timeout=timeout, interval=0.1, what=what)


def test_relay_command_runs_stops_on_sigterm_and_catches_up_with_once(setup: Setup) -> None:
    url = setup.database_url
    with relay_process(setup, "--poll-interval", "30") as process:
        append(url, [event(1, 1), event(2, 2)])
        wait_sync(lambda: unpublished(url) == 0, "the relay process to publish", process)
        append(url, [event(1, 3)])
        wait_sync(lambda: unpublished(url) == 0, "the notified row", process, timeout=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        output = process.stdout.read() if process.stdout else ""
    assert "metrics on http://127.0.0.1:" in output
    assert "3 rows published" in output, output

    append(url, [event(1, 4), event(3, 5)])  # written while no relay runs
    once = subprocess.run(
        [*_hubsync(), "relay", "--once", "--json"],
        env=setup.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout) == {"published": 2}
    assert unpublished(url) == 0
    messages = setup.drain(setup.topics.platform_contacts, 5)
    assert [decoded(m)["changed_fields"]["jobtitle"] for m in messages if m.key() == b"1"] == [
        "title 1",
        "title 3",
        "title 4",
    ]
