"""What consuming a change event costs before any rule runs: Faust's agent loop against librdkafka's.

    python -m bench.consumer_overhead [--events N] [--trials K]

The ingest target (issue 16: the worker at >= 0.5x of a raw loader) leaves the worker about twice
the raw loader's whole per-event cost. This benchmark measures the part of it spent before the
rules: taking events off Kafka and decoding them. On one topic of N real change events (3
partitions), each consumer runs in a process of its own, in a new consumer group, until it has
seen every event once, and reports its wall and CPU time per event:

- ``librdkafka``: confluent-kafka's ``Consumer.consume`` in batches of up to 2,000, offsets
  committed after each batch (what the raw loader does, without the COPY);
- ``faust``: the worker's own agent loop (:func:`hubsync.streams.faust_app.consume_batches` on
  :func:`~hubsync.streams.faust_app.create_app`, uvloop as ``hubsync worker`` runs it), whose
  batch handler does nothing;
- ``decode``: the ingest processor's decoding of the same events (Avro + ``ChangeEvent``), in
  process.

Every consumer must report each (partition, offset) exactly once, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer
from prometheus_client import CollectorRegistry

from bench._change_events import contact_snapshot_events, produce_events
from bench._report import report, summarize
from bench._services import PARTITIONS
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.ingest.events import change_event
from hubsync.settings import Settings
from hubsync.streams.consumer import decode_by_topic
from hubsync.streams.decode import KafkaRecord
from hubsync.testing.records import FakeKafkaRecord

BATCH = 2_000
CONSUMERS = ("librdkafka", "faust")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _result(seen: set[tuple[int, int]], count: int, started: float, cpu: float) -> dict[str, Any]:
    return {
        "messages": count,
        "distinct": len(seen),
        "seconds": time.perf_counter() - started,
        "cpu_s": _cpu_s() - cpu,
    }


def child_librdkafka(bootstrap: str, topic: str, events: int) -> dict[str, Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-overhead-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: set[tuple[int, int]] = set()
    count, started, cpu = 0, 0.0, 0.0
    try:
        while count < events:
            batch = consumer.consume(BATCH, timeout=0.05)
            if not batch:
                continue
            if not count:  # time from the first batch: group joins are not the per-event cost
                started, cpu = time.perf_counter(), _cpu_s()
            for message in batch:
                if message.error() is None:
                    seen.add((int(message.partition() or 0), int(message.offset() or 0)))
                    count += 1
            consumer.commit(asynchronous=False)
        return _result(seen, count, started, cpu)
    finally:
        consumer.close()


def child_faust(bootstrap: str, topic: str, events: int) -> None:
    """Runs the worker's agent loop until every event was seen, prints the result, exits."""
    from hubsync.streams.faust_app import consume_batches, create_app, run_app

    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        consumer_group=f"bench-overhead-{uuid.uuid4().hex[:8]}",
        log_level="WARNING",
    )
    seen: set[tuple[int, int]] = set()
    state: dict[str, Any] = {"count": 0}

    def build() -> Any:
        app = create_app(settings, SingleObjectCodec(SchemaRepository()), CollectorRegistry())

        async def process(messages: Sequence[KafkaRecord]) -> None:
            if not state["count"]:
                state["started"], state["cpu"] = time.perf_counter(), _cpu_s()
            for message in messages:
                seen.add((int(message.partition() or 0), int(message.offset() or 0)))
            state["count"] += len(messages)
            if state["count"] >= events:
                result = _result(seen, state["count"], state["started"], state["cpu"])
                print(json.dumps(result), flush=True)
                os._exit(0)

        async def agent(stream: Any) -> None:
            await consume_batches(stream, BATCH, 0.05, process)

        app.agent(app.topic(topic, key_type=bytes, value_type=bytes), name="overhead")(agent)
        return app

    run_app(build)


def decode_cost(values: Sequence[bytes], topic: str) -> dict[str, Any]:
    """The ingest processor's decoding (Avro single-object + ``ChangeEvent``) of ``values``."""
    codec = SingleObjectCodec(SchemaRepository())
    schema = codec.repository.current("hubspot_change_event")

    records = [FakeKafkaRecord(v, topic=topic, offset=i) for i, v in enumerate(values)]
    started, cpu = time.perf_counter(), _cpu_s()
    seen: set[tuple[int, int]] = set()
    for i in range(0, len(records), BATCH):
        decoded, dead = decode_by_topic(records[i : i + BATCH], codec, schema, now_ms=0)
        if dead:
            raise AssertionError(f"{len(dead)} events did not decode")
        for record, value in decoded:
            change_event(value)
            seen.add((0, int(record.offset() or 0)))
    return _result(seen, len(records), started, cpu)


def run_child(kind: str, bootstrap: str, topic: str, events: int, timeout_s: float = 300.0) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.consumer_overhead", "--child", kind]
    args += ["--bootstrap", bootstrap, "--topic", topic, "--events", str(events)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    # Faust's worker writes terminal escapes before the line
    lines = [line[line.index("{") :] for line in done.stdout.splitlines() if "{" in line]
    if not lines:
        tail = done.stderr[-2000:]
        raise RuntimeError(f"the {kind} consumer reported nothing (exit {done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(bootstrap: str, events: int, trials: int) -> dict[str, list[dict[str, Any]]]:
    """``trials`` runs of each consumer over one topic of ``events`` change events."""
    topic = f"bench.overhead.{uuid.uuid4().hex[:8]}"
    produced = produce_events(bootstrap, topic, contact_snapshot_events(events, seed=3), PARTITIONS)
    if produced != events:
        raise AssertionError(f"{produced} events produced, {events} wanted")
    codec = SingleObjectCodec(SchemaRepository())
    schema = codec.repository.current("hubspot_change_event")
    values = [codec.encode(topic, schema, v) for _, v in contact_snapshot_events(events, seed=3)]
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in (*CONSUMERS, "decode")}
    for _ in range(trials):
        for kind in CONSUMERS:
            runs[kind].append(run_child(kind, bootstrap, topic, events))
        runs["decode"].append(decode_cost(values, topic))
    return runs


def problems_of(runs: dict[str, list[dict[str, Any]]], events: int) -> list[str]:
    """Each run must have seen every event exactly once."""
    out = []
    for kind, results in runs.items():
        for result in results:
            if result["messages"] != events or result["distinct"] != events:
                seen = f"{result['messages']} events, {result['distinct']} distinct"
                out.append(f"{kind}: {seen}, {events} sent")
    return out


def rows_of(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, results in runs.items():
        # the first batch starts the clock, so the rate is over the rest
        counted = [max(r["messages"] - BATCH, 1) if kind != "decode" else r["messages"] for r in results]
        per_s = [c / max(r["seconds"], 1e-9) for c, r in zip(counted, results, strict=True)]
        cpu_us = [r["cpu_s"] / c * 1e6 for c, r in zip(counted, results, strict=True)]
        rows.append({"metric": f"{kind}: events/s", **summarize(per_s), "unit": "/s"})
        rows.append({"metric": f"{kind}: CPU per event", **summarize(cpu_us), "unit": "us"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--child", choices=CONSUMERS, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "librdkafka":
        print(json.dumps(child_librdkafka(args.bootstrap, args.topic, args.events)), flush=True)
        return
    if args.child == "faust":
        child_faust(args.bootstrap, args.topic, args.events)
        return
    from hubsync.testing import ApacheKafkaServer

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    server = None if bootstrap else ApacheKafkaServer().start()
    try:
        bootstrap = bootstrap or (server.bootstrap_servers if server else "")
        runs = measure(bootstrap, args.events, args.trials)
    finally:
        if server is not None:
            server.stop()
    problems = problems_of(runs, args.events)
    report(
        "consumer_overhead",
        f"Consuming {args.events:,} change events, {args.trials} trials (CPU of the consuming process)",
        rows_of(runs),
        {"events": args.events, "runs": runs, "problems": problems},
    )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
