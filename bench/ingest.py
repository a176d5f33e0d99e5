"""Ingest throughput per worker against a raw loader in the same run, latency and memory.

    python -m bench.ingest [--events 200000] [--trials 1] [--quick]

Per trial, on real Apache Kafka and PostgreSQL:

1. ``--events`` contact snapshot events (``bench._change_events``: realistic properties with
   per-property timestamps, 2% planted duplicate e-mails) are produced to a fresh topic;
2. the **raw loader** (``bench._raw_loader``: confluent-kafka consumer + fastavro decode + COPY
   upsert into ``hubsync.contacts``, no logic) loads them into a fresh database;
3. one **``hubsync worker``** process (the Faust app, every feature on: version guards, activity
   log, duplicate detection, prospect marking, field mappings with a prospect database matching
   10% of the contacts, canonical records to ``crm.contacts``) ingests the same topic into another
   fresh database. Its events/s run from the first committed batch to the last (the consumer
   group's join is not counted, as for the raw loader);
4. with the worker still running, events are produced at ``--rate`` (1,000/s) for ``--seconds``,
   stamped with the time they are produced, and the worker's
   ``hubsync_ingest_commit_latency_seconds`` histogram gives p50/p99 of received -> committed
   (interpolated within buckets, as Prometheus' ``histogram_quantile`` does).

Target (SPEC section 6): worker events/s >= 0.5 x the raw loader's. Also reported: the worker's
peak RSS (VmHWM) and the latency percentiles.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from confluent_kafka import Producer

from bench._change_events import contact_snapshot_events, produce_events
from bench._raw_loader import raw_load
from bench._report import report, summarize
from bench._services import PARTITIONS, fresh_topics
from hubsync._runtime.processes import free_port
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.matching.keys import normalize_email
from hubsync.settings import Settings
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.portal_scope import current_portal
from hubsync.testing import ApacheKafkaServer, PostgresServer, fresh_database

RATIO_TARGET = 0.5
P99_TARGET_S = 1.0
PROSPECT_SHARE = 10  # one contact in ten has a prospect-database person with enrichment values


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """``(bootstrap servers, PostgreSQL server URL)``: from the environment, else started here."""
    with contextlib.ExitStack() as stack:
        bootstrap = (
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            or stack.enter_context(ApacheKafkaServer()).bootstrap_servers
        )
        server_url = os.environ.get("DATABASE_URL") or stack.enter_context(PostgresServer()).url
        yield bootstrap, server_url


def seed_worker_database(url: str, events: int) -> int:
    """Mappings and settings from the defaults file, and prospect people for every tenth contact."""
    migrate(url)
    people = []
    for i, (_key, value) in enumerate(contact_snapshot_events(events, seed=1)):
        if i % PROSPECT_SHARE == 0:
            email = normalize_email(value["properties"].get("email"))
            if email:
                people.append(
                    (email, f'{{"jobtitle": "Head of Data", "city": "Lisbon", "phone": "+351 21 {i:07d}"}}')
                )
    with psycopg.connect(url) as conn:
        seed_defaults(conn, load_defaults())
        portal = current_portal(conn)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY hubsync.prospect_people_all (portal_id, email_normalized, attributes) FROM STDIN"
            ) as copy,
        ):
            for row in dict(people).items():
                copy.write_row((portal, *row))
    return len(people)


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM hubsync.contacts").fetchone()
        return int(row[0]) if row else 0


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hubsync_ingest_commit_latency_seconds"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _quantile(before: dict[str, float], after: dict[str, float], q: float) -> float:
    """``histogram_quantile(q, after - before)`` of the commit-latency histogram."""
    buckets: list[tuple[float, float]] = []
    for name, value in after.items():
        if "_bucket{" in name:
            le = name.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), value - before.get(name, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_bound, lower_count = bound, count
    return lower_bound


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _produce_at_rate(bootstrap: str, topic: str, start_id: int, rate: int, seconds: float) -> int:
    """Produce ``rate`` events/s for ``seconds``, each stamped ``received_at`` = when it is sent."""
    repo = SchemaRepository()
    schema = repo.current("hubspot_change_event")
    codec = SingleObjectCodec(repo)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "compression.type": "lz4"})
    events = contact_snapshot_events(int(rate * seconds), seed=7, start_id=start_id)
    started = time.perf_counter()
    sent = 0
    for key, value in events:
        due = started + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        value["received_at"] = int(time.time() * 1000)
        producer.produce(topic, key=key, value=codec.encode(topic, schema, value))
        producer.poll(0)
        sent += 1
    producer.flush(30)
    return sent


def run_worker_phase(
    bootstrap: str, url: str, settings: Settings, events: int, rate: int, seconds: float
) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        return _worker_phase(stack, bootstrap, url, settings, events, rate, seconds)


def _worker_phase(
    stack: contextlib.ExitStack,
    bootstrap: str,
    url: str,
    settings: Settings,
    events: int,
    rate: int,
    seconds: float,
) -> dict[str, float]:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": url,
        "HUBSYNC_CONSUMER_GROUP": f"bench-ingest-{uuid.uuid4().hex[:8]}",
        "HUBSYNC_METRICS_PORT": str(port),
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in settings.topics.model_dump().items()},
    }
    # the worker's output goes to a file, not a pipe: an unread pipe fills up and stalls the worker
    log = stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 - closed by the stack
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubsync", "worker", "--no-refresh"],
        env=env,
        stdout=log,
        stderr=log,
        text=True,
    )
    try:
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 600
        count = 0
        while count < events:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker applied {count} of {events} events in 600 s")
            count = _count(url)
            now = time.perf_counter()
            if count and first is None:
                first = (now, count)
            time.sleep(0.05)
        ended = time.perf_counter()
        assert first is not None
        throughput = (events - first[1]) / max(ended - first[0], 1e-9)
        rss = _peak_rss_mb(proc.pid)
        before = _metrics(port)
        sent = _produce_at_rate(bootstrap, settings.topics.hubspot_contacts, events + 1, rate, seconds)
        while _count(url) < events + sent:
            if time.monotonic() > deadline:
                raise TimeoutError("worker did not apply the latency-phase events")
            time.sleep(0.1)
        time.sleep(0.5)
        after = _metrics(port)
        return {
            "events_per_s": throughput,
            "peak_rss_mb": max(rss, _peak_rss_mb(proc.pid)),
            "p50_s": _quantile(before, after, 0.50),
            "p99_s": _quantile(before, after, 0.99),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def trial(bootstrap: str, server_url: str, events: int, rate: int, seconds: float) -> dict[str, float]:
    settings = fresh_topics(bootstrap, "ingest")
    topic = settings.topics.hubspot_contacts
    produce_events(bootstrap, topic, contact_snapshot_events(events, seed=1), PARTITIONS)
    with fresh_database(server_url, "hubsync_bench_raw") as raw_url:
        migrate(raw_url)
        raw = raw_load(bootstrap, topic, raw_url, events)
    with fresh_database(server_url, "hubsync_bench_worker") as worker_url:
        seed_worker_database(worker_url, events)
        worker = run_worker_phase(bootstrap, worker_url, settings, events, rate, seconds)
    return {
        "raw_events_per_s": raw.events_per_s,
        **worker,
        "ratio": worker["events_per_s"] / raw.events_per_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--rate", type=int, default=1_000, help="events/s of the latency phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency phase")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 5 s latency phase")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.seconds = 20_000, 5.0
    results: list[dict[str, float]] = []
    with servers() as (bootstrap, server_url):
        for i in range(args.trials):
            result = trial(bootstrap, server_url, args.events, args.rate, args.seconds)
            print(f"trial {i + 1}: {result}", flush=True)
            results.append(result)

    def row(metric: str, key: str, unit: str, target: str, ok: Any = None) -> dict[str, Any]:
        return {
            "metric": metric,
            "unit": unit,
            "target": target,
            "ok": ok,
            **summarize([r[key] for r in results]),
        }

    ratio = summarize([r["ratio"] for r in results])
    p99 = summarize([r["p99_s"] for r in results])
    report(
        "ingest",
        f"Ingest: {args.events:,} contact events, {PARTITIONS} partitions, one worker process",
        [
            row("raw loader", "raw_events_per_s", "ev/s", "-"),
            row("hubsync worker", "events_per_s", "ev/s", "-"),
            row("worker / raw", "ratio", "x", f">= {RATIO_TARGET}", ratio["median"] >= RATIO_TARGET),
            row(f"latency p50 at {args.rate}/s", "p50_s", "s", "-"),
            row(
                f"latency p99 at {args.rate}/s",
                "p99_s",
                "s",
                f"< {P99_TARGET_S}",
                p99["median"] < P99_TARGET_S,
            ),
            row("worker peak RSS", "peak_rss_mb", "MB", "-"),
        ],
        extra={"events": args.events, "partitions": PARTITIONS, "trials": results},
    )


if __name__ == "__main__":
    main()
