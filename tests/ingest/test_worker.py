"""``hubsync worker`` end to end, as a subprocess against real Apache Kafka and PostgreSQL.

Each test has its own topics (every role), consumer group and database (see
:mod:`tests.ingest.worker_harness`): events in, then the PostgreSQL state, the ``crm.contacts``
and DLQ topics, the group's committed offsets, the exit code and ``/metrics`` are checked
against what the produced events imply.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from bench._change_events import contact_snapshot_events
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from hubsync._runtime.processes import free_port
from hubsync._runtime.shutdown import EXIT_AGENT_FAILED
from hubsync.storage.canonical import crm_key
from hubsync.streams.admin import admin_client
from hubsync.streams.dlq import (
    HEADER_ERROR,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    HEADER_STAGE,
)
from tests.ingest.worker_harness import (
    Produced,
    TopicDrain,
    WorkerProcess,
    WorkerSetup,
    change_event_codec,
    committed_offsets,
    contact_count,
    end_offsets,
    prepare_worker,
    produce,
    query,
    running_worker,
    scalar,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Event = tuple[bytes, dict[str, Any]]


def setup_for(kafka: str, database_url: str, partitions: int = 3, **env: str) -> WorkerSetup:
    return prepare_worker(kafka, database_url, partitions=partitions, **env)


def encode_all(events: Iterable[Event]) -> list[tuple[bytes, bytes]]:
    codec, schema = change_event_codec()
    return [(key, codec.encode("contacts", schema, value)) for key, value in events]


def produce_events(
    setup: WorkerSetup, events: Iterable[Event], partition: int | None = None
) -> list[Produced]:
    return produce(
        setup.bootstrap,
        setup.topics.hubspot_contacts,
        [(key, value, partition) for key, value in encode_all(events)],
    )


def expected_email_pairs(events: Sequence[Event]) -> set[tuple[str, str]]:
    """The HubSpot-id pairs sharing an address (primary or ``hs_additional_emails``), computed from
    the events alone: the generator's addresses differ from each other only by case."""
    holders: dict[str, set[str]] = defaultdict(set)
    for _, value in events:
        props = value["properties"]
        addresses = [props.get("email"), *(props.get("hs_additional_emails") or "").split(";")]
        for address in addresses:
            if address and address.strip():
                holders[address.strip().lower()].add(value["object_id"])
    return {
        (a, b) if int(a) < int(b) else (b, a)
        for ids in holders.values()
        for a, b in itertools.combinations(sorted(ids), 2)
    }


def flagged_email_pairs(database_url: str) -> list[tuple[str, str]]:
    rows = query(
        database_url,
        """
        SELECT ca.hubspot_id, cb.hubspot_id
          FROM hubsync.potential_duplicates d
          JOIN hubsync.contacts ca ON ca.id = d.record_a
          JOIN hubsync.contacts cb ON cb.id = d.record_b
         WHERE d.object_type = 'contact' AND d.signal = 'email'
        """,
    )
    return [(a, b) if int(a) < int(b) else (b, a) for a, b in rows]


def assert_group_caught_up(setup: WorkerSetup) -> None:
    topic = setup.topics.hubspot_contacts
    ends = end_offsets(setup.bootstrap, topic, setup.partitions)
    committed = committed_offsets(setup.bootstrap, setup.ingest_group, topic, setup.partitions)
    assert committed == ends, f"group {setup.ingest_group} committed {committed}, topic ends at {ends}"


def group_caught_up(setup: WorkerSetup) -> bool:
    topic = setup.topics.hubspot_contacts
    ends = end_offsets(setup.bootstrap, topic, setup.partitions)
    return committed_offsets(setup.bootstrap, setup.ingest_group, topic, setup.partitions) == ends


def events_metric(worker: WorkerProcess, topic: str, outcome: str) -> float:
    labels = (("outcome", outcome), ("topic", topic))
    return worker.metrics().get(("hubsync_ingest_events_total", labels), 0.0)


def assert_exit_ok(worker: WorkerProcess) -> None:
    code = worker.stop()
    assert code == 0, f"SIGTERM: exit code {code}; {worker.describe()}"


# --- 1. end to end ------------------------------------------------------------------------------------


def test_worker_applies_every_event_flags_planted_duplicates_and_publishes_canonical_records(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    n = 2_000
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=3)
    events = list(contact_snapshot_events(n, seed=11, duplicate_ratio=0.05, start_id=1))
    expected_pairs = expected_email_pairs(events)
    assert len(expected_pairs) >= 20, "the generator planted too few duplicates to test anything"
    produced = produce_events(setup, events)
    assert {p.partition for p in produced} == {0, 1, 2}

    with running_worker(setup.worker_env()) as worker:
        worker.wait_until(lambda: contact_count(setup.database_url) >= n, f"{n} contacts", timeout=45)
        # every batch processed (the metrics are recorded after the crm.* publish, just before the
        # acks); then SIGTERM at once: the graceful stop must commit what was acknowledged
        topic = setup.topics.hubspot_contacts
        worker.wait_until(
            lambda: events_metric(worker, topic, "applied") >= n, "every batch recorded", interval=0.02
        )
        assert_exit_ok(worker)

    db = setup.database_url
    assert query(db, "SELECT count(*), count(DISTINCT hubspot_id) FROM hubsync.contacts") == [(n, n)]
    ids = {value["object_id"] for _, value in events}
    assert {r[0] for r in query(db, "SELECT hubspot_id FROM hubsync.contacts")} == ids
    assert scalar(db, "SELECT count(*) FROM hubsync.activity_log WHERE action = 'created_from_hubspot'") == n
    flagged = flagged_email_pairs(db)
    assert len(flagged) == len(set(flagged))
    assert set(flagged) == expected_pairs
    assert_group_caught_up(setup)  # committed at the latest by the graceful stop: nothing to redeliver

    # crm.contacts: one key per contact, and each key's latest record is the contact's current state
    rows = query(db, "SELECT id, hubspot_id, email FROM hubsync.contacts")
    dups: dict[int, set[int]] = defaultdict(set)
    for a, b in query(
        db, "SELECT record_a, record_b FROM hubsync.potential_duplicates WHERE resolved_at IS NULL"
    ):
        dups[a].add(b)
        dups[b].add(a)
    codec, _ = change_event_codec()
    crm_schema = codec.repository.current("crm_contact")
    latest: dict[str, dict[str, Any]] = {}
    with TopicDrain(setup.bootstrap, setup.topics.crm_contacts, setup.partitions) as drain:
        for message in drain.drain():
            assert message.value() is not None, "a tombstone on crm.contacts"
            latest[message.key().decode()] = codec.decode(
                setup.topics.crm_contacts, crm_schema, message.value()
            )
    assert set(latest) == {str(record_id) for record_id, _, _ in rows}
    for record_id, hubspot_id, email in rows:
        record = latest[str(record_id)]
        assert (record["record_id"], record["hubspot_id"], record["email"]) == (record_id, hubspot_id, email)
        assert set(record["potential_duplicate_ids"]) == dups[record_id], f"contact {record_id}"


def test_an_upgraded_worker_resumes_where_the_faust_group_committed(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """Ingest consumed ``hubspot.*.changes`` in the Faust app's group before its lanes had groups of
    their own: an upgraded worker neither replays what that group committed nor skips the rest."""
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    events = list(contact_snapshot_events(300, seed=5, duplicate_ratio=0.0, start_id=1))
    produced = produce_events(setup, events, partition=0)
    topic = setup.topics.hubspot_contacts
    old = Consumer({"bootstrap.servers": setup.bootstrap, "group.id": setup.agents_group})
    old.commit(offsets=[TopicPartition(topic, 0, 200)], asynchronous=False)  # the old worker got this far
    old.close()

    with running_worker(setup.worker_env()) as worker:
        worker.wait_until(
            lambda: group_caught_up(setup), "the lane's group committed every offset", timeout=45
        )
        assert_exit_ok(worker)
    applied = {r[0] for r in query(setup.database_url, "SELECT hubspot_id FROM hubsync.contacts")}
    assert applied == {
        value["object_id"] for (_, value), p in zip(events, produced, strict=True) if p.offset >= 200
    }


# --- 2. dead letters ------------------------------------------------------------------------------------


def test_undecodable_and_invalid_messages_go_to_the_dlq_once_and_the_rest_is_applied(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=3)
    valid = list(contact_snapshot_events(300, seed=21, duplicate_ratio=0.0, start_id=5_000))
    encoded = encode_all(valid)
    _, company_value = next(iter(contact_snapshot_events(1, seed=22, start_id=9_999)))
    wrong_kind = encode_all([(b"9999", {**company_value, "object_type": "COMPANY"})])[0][1]
    truncated = encoded[0][1][: len(encoded[0][1]) // 2]
    bad: list[tuple[bytes | None, bytes | None, int, str]] = [
        (b"garbage", b"\x00\x01 not avro at all \xff", 0, "DECODE"),
        (b"truncated", truncated, 1, "DECODE"),
        (b"tombstone", None, 2, "DECODE"),
        (None, b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint", 0, "DECODE"),
        (b"9999", wrong_kind, 1, "VALIDATE"),
    ]
    # bad messages between valid ones, on every partition
    messages: list[tuple[bytes | None, bytes | None, int | None]] = []
    bad_at = {40 + 50 * i: entry for i, entry in enumerate(bad)}
    for i, (key, value) in enumerate(encoded):
        if i in bad_at:
            b_key, b_value, b_partition, _ = bad_at[i]
            messages.append((b_key, b_value, b_partition))
        messages.append((key, value, i % 3))
    produced = produce(setup.bootstrap, setup.topics.hubspot_contacts, messages)
    bad_positions = {
        (p.partition, p.offset): stage
        for p, (key, value, _) in zip(produced, messages, strict=True)
        for b_key, b_value, _, stage in bad
        if (key, value) == (b_key, b_value)
    }
    assert len(bad_positions) == len(bad)

    topic = setup.topics.hubspot_contacts
    with (
        TopicDrain(setup.bootstrap, setup.topics.dlq, setup.partitions) as dlq,
        running_worker(setup.worker_env()) as worker,
    ):
        worker.wait_until(lambda: contact_count(setup.database_url) >= len(valid), "the valid events")
        worker.wait_until(lambda: len(dlq.drain()) >= len(bad), f"{len(bad)} dead letters", timeout=20)
        worker.wait_until(lambda: group_caught_up(setup), "offsets committed up to the end", timeout=20)
        assert_exit_ok(worker)
        letters = dlq.drain()

    applied = contact_count(setup.database_url)
    assert applied == len(valid)
    assert len(letters) + applied == len(messages)  # count(DLQ) + count(applied) == count(in)
    assert len(letters) == len(bad), [dict(m.headers() or []) for m in letters]
    codec, _ = change_event_codec()
    dl_schema = codec.repository.current("dead_letter")
    seen: dict[tuple[int, int], str] = {}
    for message in letters:
        headers = {k: v.decode() for k, v in message.headers() or []}
        assert headers[HEADER_SOURCE_TOPIC] == topic
        position = (int(headers[HEADER_SOURCE_PARTITION]), int(headers[HEADER_SOURCE_OFFSET]))
        assert position not in seen, f"{position} dead-lettered twice"
        seen[position] = headers[HEADER_STAGE]
        assert headers[HEADER_ERROR].strip(), headers
        record = codec.decode(setup.topics.dlq, dl_schema, message.value())
        original = next(p for p in produced if (p.partition, p.offset) == position)
        assert (record["source_topic"], record["source_partition"], record["source_offset"]) == (
            topic,
            *position,
        )
        assert record["stage"] == headers[HEADER_STAGE]
        assert (record["original_key"], record["original_value"]) == (original.key, original.value)
        assert message.key() == original.key
    assert seen == bad_positions
    assert not query(setup.database_url, "SELECT 1 FROM hubsync.contacts WHERE hubspot_id = '9999'")


# --- 3. two workers ---------------------------------------------------------------------------------------


def test_two_workers_flag_a_cross_partition_duplicate_exactly_once(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=2)
    topic = setup.topics.hubspot_contacts
    uid = uuid.uuid4().hex[:8]
    next_id = itertools.count(100_000)

    def contacts(count: int) -> list[Event]:
        start = next(next_id)
        for _ in range(count - 1):
            next(next_id)
        return list(contact_snapshot_events(count, seed=start, duplicate_ratio=0.0, start_id=start))

    with (
        running_worker(setup.worker_env(), "worker-a") as a,
        running_worker(setup.worker_env(), "worker-b") as b,
    ):
        # both joined and own one partition each once both have applied something
        expected_rows = 0

        def both_busy() -> bool:
            return events_metric(a, topic, "applied") > 0 and events_metric(b, topic, "applied") > 0

        for _round in range(40):
            for partition in (0, 1):
                produce_events(setup, contacts(1), partition)
            expected_rows += 2
            a.wait_until(lambda n=expected_rows: contact_count(setup.database_url) >= n, "warm-up contacts")
            b.check_alive()
            a.wait_until(  # each event applied once, by one worker or the other
                lambda n=expected_rows: sum(events_metric(w, topic, "applied") for w in (a, b)) == n,
                "the warm-up in the metrics",
            )
            if both_busy():
                break
        else:
            pytest.fail(f"both workers never got a partition; {a.describe()}\n{b.describe()}")
        before = {w.name: events_metric(w, topic, "applied") for w in (a, b)}

        # pairs sharing an address (case differs), one side on each partition, produced together
        pairs = 25
        events = contacts(2 * pairs)
        for i in range(pairs):
            address = f"pair{i}.{uid}@two-workers.example"
            events[2 * i][1]["properties"]["email"] = address
            events[2 * i + 1][1]["properties"]["email"] = address.upper()
        produce(
            setup.bootstrap,
            topic,
            [(key, value, i % 2) for i, (key, value) in enumerate(encode_all(events))],
        )
        expected_rows += 2 * pairs
        a.wait_until(lambda: contact_count(setup.database_url) >= expected_rows, "the pairs")
        a.wait_until(lambda: group_caught_up(setup), "offsets committed up to the end", timeout=20)

        def metrics_settled() -> bool:
            return sum(events_metric(w, topic, "applied") for w in (a, b)) == sum(before.values()) + 2 * pairs

        a.wait_until(metrics_settled, "both workers' metrics")
        after = {w.name: events_metric(w, topic, "applied") for w in (a, b)}
        assert after[a.name] - before[a.name] == pairs, (before, after)  # one partition each
        assert after[b.name] - before[b.name] == pairs, (before, after)
        assert_exit_ok(a)
        assert_exit_ok(b)

    db = setup.database_url
    assert contact_count(db) == expected_rows
    assert sorted(flagged_email_pairs(db)) == sorted(
        (e1[1]["object_id"], e2[1]["object_id"]) for e1, e2 in zip(events[::2], events[1::2], strict=True)
    )
    logged = query(
        db,
        """
        SELECT c.hubspot_id, count(*)
          FROM hubsync.activity_log l JOIN hubsync.contacts c ON c.id = l.record_id
         WHERE l.action = 'flagged_duplicate' AND l.detail->>'signal' = 'email'
         GROUP BY 1
        """,
    )
    assert dict(logged) == {value["object_id"]: 1 for _, value in events}


# --- 4. kill -9 ---------------------------------------------------------------------------------------------


def test_kill_9_mid_load_then_restart_applies_every_event_exactly_once(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    n = 20_000
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=3)
    events = list(contact_snapshot_events(n, seed=41, duplicate_ratio=0.02, start_id=1))
    produce_events(setup, events)
    db = setup.database_url
    topic = setup.topics.hubspot_contacts

    with running_worker(setup.worker_env(), "worker-1") as first:
        first.wait_until(lambda: contact_count(db) >= 4_000, "some contacts", timeout=45, interval=0.02)
        first.kill()
    at_kill = contact_count(db)
    assert at_kill < n, "the worker finished before the kill: nothing was tested"
    committed = committed_offsets(setup.bootstrap, setup.ingest_group, topic, setup.partitions)
    consumed = sum(max(0, offset) for offset in committed.values())  # negative: nothing committed yet
    # offsets are committed only after PostgreSQL committed the batch
    assert consumed <= at_kill, (committed, at_kill)

    with running_worker(setup.worker_env(), "worker-2") as second:
        second.wait_until(lambda: contact_count(db) >= n, f"{n} contacts", timeout=60)
        second.wait_until(lambda: group_caught_up(setup), "offsets committed up to the end", timeout=20)
        second.wait_until(
            lambda: events_metric(second, topic, "applied") >= n - at_kill, "the restart's metrics"
        )
        # the restart resumes at the committed offsets: what PostgreSQL has already is redelivered
        # and changes nothing, the rest is applied once
        redelivered = events_metric(second, topic, "unchanged")
        assert (events_metric(second, topic, "applied"), redelivered) == (n - at_kill, at_kill - consumed)
        assert_exit_ok(second)

    assert query(db, "SELECT count(*), count(DISTINCT hubspot_id) FROM hubsync.contacts") == [(n, n)]
    actions = dict(query(db, "SELECT action, count(*) FROM hubsync.activity_log GROUP BY 1"))
    assert actions.get("created_from_hubspot") == n
    assert actions.get("updated", 0) == 0, actions  # a redelivered snapshot changes nothing
    flagged = flagged_email_pairs(db)
    assert sorted(flagged) == sorted(expected_email_pairs(events))
    pairs = scalar(db, "SELECT count(*) FROM hubsync.potential_duplicates")
    assert actions.get("flagged_duplicate", 0) == 2 * pairs  # each pair logged once, on both records
    assert_group_caught_up(setup)


def test_a_batch_no_retry_can_fix_stops_the_worker_uncommitted_and_a_restart_finishes_it(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """``crm.contacts`` refuses the batch's canonical records (each is larger than the topic allows:
    MSG_SIZE_TOO_LARGE, which no retry fixes). The worker stops with exit code 70 and commits no
    offset, though PostgreSQL has the batch; once the topic is fixed, a restart republishes every
    record and applies nothing twice."""
    n = 200
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    crm = setup.topics.crm_contacts
    admin = admin_client(setup.bootstrap)

    def max_message_bytes(value: str, op: AlterConfigOpType) -> None:
        entry = ConfigEntry("max.message.bytes", value, incremental_operation=op)
        resource = ConfigResource(ResourceType.TOPIC, crm, incremental_configs=[entry])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result()

    max_message_bytes("64", AlterConfigOpType.SET)
    events = list(contact_snapshot_events(n, seed=29, duplicate_ratio=0.0, start_id=1))
    produce_events(setup, events, partition=0)
    db = setup.database_url
    topic = setup.topics.hubspot_contacts

    with running_worker(setup.worker_env(), "worker-1") as first:
        assert first.process is not None
        code = first.process.wait(60)
        assert code == EXIT_AGENT_FAILED, first.describe()
        assert "ingest lane failed" in first.output(), first.describe()
    # PostgreSQL committed the batch before crm.* was published; the offsets were not committed
    assert contact_count(db) > 0
    assert committed_offsets(setup.bootstrap, setup.ingest_group, topic, 1)[0] < 0

    max_message_bytes("", AlterConfigOpType.DELETE)
    with running_worker(setup.worker_env(), "worker-2") as second:
        second.wait_until(lambda: group_caught_up(setup), "offsets committed up to the end", timeout=60)
        with TopicDrain(setup.bootstrap, crm, setup.partitions) as drain:
            published = {m.key() for m in drain.drain()}
        assert_exit_ok(second)
    assert query(db, "SELECT count(*), count(DISTINCT hubspot_id) FROM hubsync.contacts") == [(n, n)]
    assert scalar(db, "SELECT count(*) FROM hubsync.activity_log WHERE action = 'created_from_hubspot'") == n
    assert published == {crm_key(r[0]) for r in query(db, "SELECT id FROM hubsync.contacts")}


# --- 5. metrics ---------------------------------------------------------------------------------------------


def test_metrics_endpoint_shows_applied_events_and_commit_latency(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    n = 300
    port = free_port()
    setup = setup_for(
        kafka_bootstrap_servers, fresh_database_url, partitions=3, HUBSYNC_METRICS_PORT=str(port)
    )
    topic = setup.topics.hubspot_contacts
    produce_events(setup, contact_snapshot_events(n, seed=51, duplicate_ratio=0.0, start_id=70_000))

    with running_worker(setup.worker_env()) as worker:
        assert worker.metrics_url() == f"http://127.0.0.1:{port}/metrics"
        worker.wait_until(lambda: contact_count(setup.database_url) >= n, f"{n} contacts")
        worker.wait_until(lambda: events_metric(worker, topic, "applied") >= n, "the applied counter")
        samples = worker.metrics()
        assert samples[("hubsync_ingest_events_total", (("outcome", "applied"), ("topic", topic)))] == n
        assert samples[("hubsync_ingest_commit_latency_seconds_count", ())] >= n
        assert samples[("hubsync_ingest_commit_latency_seconds_count", ())] > 0
        assert_exit_ok(worker)


def test_each_partitions_lag_is_reported_by_the_worker_that_holds_it(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """Two workers, two partitions: each measures (and exports) only the lag of its own partition,
    so the broker gets one probe per partition, and a partition that moved is no longer reported by
    its former owner."""
    setup = setup_for(kafka_bootstrap_servers, fresh_database_url, partitions=2)
    topic = setup.topics.hubspot_contacts

    def lag_partitions(worker: WorkerProcess) -> set[str]:
        return {
            dict(labels)["partition"]
            for (name, labels), _value in worker.metrics().items()
            if name == "hubsync_consumer_lag_messages" and dict(labels)["topic"] == topic
        }

    with (
        running_worker(setup.worker_env(), "lag-a") as a,
        running_worker(setup.worker_env(), "lag-b") as b,
    ):

        def split() -> bool:
            ours, theirs = lag_partitions(a), lag_partitions(b)
            return bool(ours) and bool(theirs) and not ours & theirs and ours | theirs == {"0", "1"}

        a.wait_until(split, "each worker reporting only its own partition's lag", timeout=120)
