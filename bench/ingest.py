"""Ingest throughput per worker against a raw loader in the same run, at 10k, 100k and 1M existing
contacts; latency, memory, two workers against one, and the final state checked by an oracle.

    python -m bench.ingest [--existing 10000,100000,1000000] [--new 90000] [--updates 10000]
                           [--repeat 3] [--quick]

Per scale, on real Apache Kafka and PostgreSQL (``bench._existing``):

1. a database is seeded with ``existing`` contacts (written by ingest's own reducer and record
   writer), the default mappings and a prospect database matching a tenth of the new contacts;
2. ``--updates`` changes of distinct existing contacts and ``--new`` new contacts (2% planted
   duplicate e-mails) are produced, shuffled, to a fresh topic of 3 partitions;
3. the **raw loader** (``bench._raw_loader``: confluent-kafka + fastavro + COPY upsert into
   ``hubsync.contacts``, no logic) loads them into one copy of the seeded database;
4. one **``hubsync worker``** process (every rule on: version guards, activity log, duplicate
   detection, prospect marking, autofill, canonical records to ``crm.contacts``) ingests the same
   topic into another copy; its final state is then checked against the oracle
   (``check_against_oracle``). Both loaders' events/s are their **steady rate**
   (``bench._rates``): events done between the first sample showing 10% of the events and the first
   showing 90%, over the time between them (the raw loader samples after each commit, the worker's
   metrics are polled every 50 ms); the CPU an event of the worker's side is taken over the same
   window, the raw loader's over its whole run. Until session 23 the worker's rate ran from its
   first commit to its last, which counted the batches other consumers had in flight at the first
   commit without their time (the JSON keeps that rate too, as ``events_per_s_from_first_commit``);
   Steps 2-4 run ``--repeat`` times (3; ``--quick``: 1), each pair from a fresh topic into fresh
   copies: single pairs on this shared 2-core machine spread by +-10% or more. The table gives the
   pairs' min / median / max, and the ratio target holds for the median of the pairs' ratios. Each
   pair also gives the CPU an event of every process involved (the loader's, PostgreSQL's and the
   broker's: the machine's ``postgres`` and ``java`` processes, so run it on a machine to itself), a
   measure that moves less than rates when the machine's speed does;
5. with the last worker still running, events are produced at ``--rate`` (1,000/s) and then at 90% of
   the throughput the worker just reached (its maximum sustained rate), each for ``--seconds``,
   stamped with the time they are sent; the worker's ``hubsync_ingest_commit_latency_seconds``
   gives p50/p99 of received -> committed (interpolated within buckets, as Prometheus'
   ``histogram_quantile``).

The broker started here runs with Kafka's default ``group.initial.rebalance.delay.ms`` (3 s), as a
production broker: a new consumer group's coordinator waits for more members before its first
assignment, so the worker's consumers start together (neither loader's clock counts the join). With a
broker from ``$KAFKA_BOOTSTRAP_SERVERS`` the report names its setting, and a note says when it differs:
the test broker's 0 gives the first consumer to join all partitions until the others have.

Then, at the smallest scale, the same events on 6 partitions ingested by one worker and by two
workers of one consumer group, with the CPU seconds each process used (``--scaling-only``: that
alone). The workers inherit the environment: ``HUBSYNC_INGEST_MAX_LOCKS=8000`` makes them lock
every record and key of a batch one by one (the server needs a lock table big enough for it).

Targets (SPEC section 6, issue 16): worker / raw >= 0.5 at every scale, the ratio at the largest
scale >= 0.9 of the ratio at the smallest, p99 < 1 s at 1,000/s, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from bench._change_events import contact_snapshot_events, produce_events
from bench._existing import ScaleEvents, check_against_oracle, copy_of, drop, scale_events, seeded_template
from bench._rates import steady_rate, window_thresholds
from bench._raw_loader import raw_load
from bench._report import report, summarize
from bench._services import PARTITIONS, cpu_by_command, cpu_seconds, fresh_topics, messages_in
from hubsync._runtime.processes import free_port
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.settings import Settings
from hubsync.streams.admin import admin_client
from hubsync.testing import ApacheKafkaServer, PostgresServer

RATIO_TARGET = 0.5
FLAT_TARGET = 0.9
P99_TARGET_S = 1.0
RSS_TARGET_MB = 300.0
SCALING_PARTITIONS = 6
MAX_RATE_SHARE = 0.9
T = TypeVar("T")

_DEADLINE_S = 1_800


#: Kafka's own default for ``group.initial.rebalance.delay.ms``, which a production broker runs with: the
#: coordinator of a new consumer group waits this long for more members before the first assignment, so a
#: worker's lane consumers start together. The test broker's 0 (tests join at once) hands the first consumer
#: to join all six partitions until the others join a heartbeat later: 1.2 s with one consumer of three in
#: a ~10 s bulk phase (docs/performance.md, session 19). Neither loader's clock counts the join itself.
GROUP_JOIN_DELAY_MS = 3_000


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """``(bootstrap servers, PostgreSQL server URL)``: from the environment, else started here (the
    broker with :data:`GROUP_JOIN_DELAY_MS`, as a production broker)."""
    with contextlib.ExitStack() as stack:
        bootstrap = (
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            or stack.enter_context(
                ApacheKafkaServer(properties={"group.initial.rebalance.delay.ms": str(GROUP_JOIN_DELAY_MS)})
            ).bootstrap_servers
        )
        server_url = os.environ.get("DATABASE_URL") or stack.enter_context(PostgresServer()).url
        yield bootstrap, server_url


def group_join_delay_ms(bootstrap: str) -> int:
    """The broker's ``group.initial.rebalance.delay.ms`` (of the first broker the metadata names)."""
    admin = admin_client(bootstrap)
    broker = min(admin.list_topics(timeout=10).brokers)
    resource = ConfigResource(ResourceType.BROKER, str(broker))
    entries = admin.describe_configs([resource], request_timeout=10)[resource].result(30)
    return int(entries["group.initial.rebalance.delay.ms"].value)


def _scrape(port: int) -> dict[str, float]:
    """The worker's ingest samples (events counter and commit-latency histogram)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("hubsync_ingest_commit_latency_seconds", "hubsync_ingest_events_total")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _ingested(samples: dict[str, float]) -> int:
    """Events the worker is done with (applied, unchanged or dead-lettered)."""
    return int(sum(v for k, v in samples.items() if k.startswith("hubsync_ingest_events_total")))


def _quantile(before: dict[str, float], after: dict[str, float], q: float) -> float:
    """``histogram_quantile(q, after - before)`` of the commit-latency histogram."""
    buckets: list[tuple[float, float]] = []
    for name, value in after.items():
        if name.startswith("hubsync_ingest_commit_latency_seconds_bucket{"):
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


def _produce_at_rate(bootstrap: str, topic: str, start_id: int, rate: float, seconds: float) -> int:
    """Produce ``rate`` events/s for ``seconds``, each stamped ``received_at`` = when it is sent."""
    repo = SchemaRepository()
    schema = repo.current("hubspot_change_event")
    codec = SingleObjectCodec(repo)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "compression.type": "lz4"})
    events = contact_snapshot_events(int(rate * seconds), seed=7, start_id=start_id)
    started = time.perf_counter()
    sent = 0
    for key, value in events:
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        value["received_at"] = int(time.time() * 1000)
        producer.produce(topic, key=key, value=codec.encode(topic, schema, value))
        producer.poll(0)
        sent += 1
    producer.flush(30)
    return sent


@dataclass
class Workers:
    """``hubsync worker`` processes of one consumer group and their metrics ports."""

    procs: list[subprocess.Popen[str]]
    ports: list[int]
    bootstrap: str = ""
    group: str = ""

    def committed_all(self, topic: str, deadline: float) -> None:
        """Wait until the group committed every offset of ``topic``: every event applied for good
        (the metrics alone may count a batch twice when a rebalance hands it to the other worker)."""
        probe = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.group, "enable.auto.commit": False}
        )
        try:
            parts = [
                TopicPartition(topic, p)
                for p in probe.list_topics(topic, timeout=10).topics[topic].partitions
            ]
            while True:
                ends = {tp.partition: probe.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
                committed = {tp.partition: tp.offset for tp in probe.committed(parts, timeout=10)}
                if all(committed[p] >= end for p, end in ends.items()):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the group committed {committed} of {ends}")
                time.sleep(0.2)
        finally:
            probe.close()

    def samples(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for port in self.ports:
            for name, value in _scrape(port).items():
                total[name] = total.get(name, 0.0) + value
        return total

    def wait_for(
        self,
        events: int,
        deadline: float,
        rows: tuple[str, int] | None = None,
        on_sample: Callable[[float, int], None] | None = None,
    ) -> list[tuple[float, int]]:
        """Poll until the group is done with ``events`` events (and, with ``rows`` = ``(database URL,
        n)``, the database holds ``n`` contacts: a batch counted twice across a rebalance does not end
        the wait early); the samples ``(time, events done)``, from the first that shows progress.
        ``on_sample`` is called with each as it is taken."""
        samples: list[tuple[float, int]] = []
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited {proc.returncode}")
            done = _ingested(self.samples())
            if done or samples:
                samples.append((time.perf_counter(), done))
                if on_sample is not None:
                    on_sample(*samples[-1])
            if done >= events and (rows is None or _contacts(rows[0]) >= rows[1]):
                return samples
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers ingested {done} of {events} events in time")
            time.sleep(0.05)


def _contacts(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM hubsync.contacts").fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def running_workers(bootstrap: str, url: str, settings: Settings, count: int) -> Iterator[Workers]:
    group = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        workers = Workers([], [], bootstrap, f"{group}.ingest.changes")
        for _ in range(count):
            port = free_port()
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "DATABASE_URL": url,
                "HUBSYNC_CONSUMER_GROUP": group,
                "HUBSYNC_METRICS_PORT": str(port),
                **{
                    f"HUBSYNC_TOPICS__{role.upper()}": name
                    for role, name in settings.topics.model_dump().items()
                },
            }
            # output to a file, not a pipe: an unread pipe fills up and stalls the worker
            log = stack.enter_context(tempfile.TemporaryFile("w+"))
            proc = subprocess.Popen(
                [sys.executable, "-m", "hubsync", "worker", "--no-refresh"],
                env=env,
                stdout=log,
                stderr=log,
                text=True,
            )
            stack.callback(_stop, proc)
            workers.procs.append(proc)
            workers.ports.append(port)
        deadline = time.monotonic() + 120
        for port in workers.ports:  # the metrics endpoint answers once the worker is up
            while True:
                try:
                    _scrape(port)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("a worker did not start in 120 s") from None
                    time.sleep(0.2)
        yield workers


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _latency(
    workers: Workers, bootstrap: str, topic: str, start_id: int, rate: float, seconds: float
) -> tuple[float, float]:
    """p50 and p99 of received -> committed for events sent at ``rate`` for ``seconds``."""
    before = workers.samples()
    sent = _produce_at_rate(bootstrap, topic, start_id, rate, seconds)
    workers.wait_for(_ingested(before) + sent, time.monotonic() + 300)
    time.sleep(0.3)
    after = workers.samples()
    return _quantile(before, after, 0.50), _quantile(before, after, 0.99)


def scale_trial(
    bootstrap: str,
    server_url: str,
    existing: int,
    new: int,
    updates: int,
    rate: int,
    seconds: float,
    repeat: int = 1,
) -> dict[str, Any]:
    """One scale: ``repeat`` times the raw loader then the worker (each into a fresh copy of the seeded
    database, from a fresh topic), each worker's state checked by the oracle; the two latency phases
    with the last worker. Rates and ratios are the medians of the pairs, each pair's in ``runs``."""
    started = time.perf_counter()
    scale = scale_events(existing, new, updates)
    template = f"hubsync_bench_seed_{existing}"
    seeded_template(server_url, template, scale)
    seed_s = time.perf_counter() - started
    runs: list[dict[str, Any]] = []
    try:
        for i in range(repeat):
            runs.append(
                _load_pair(
                    bootstrap,
                    server_url,
                    template,
                    scale,
                    latency=(rate, seconds) if i == repeat - 1 else None,
                )
            )
    finally:
        drop(server_url, template)
    last = runs[-1]
    return {
        "existing": existing,
        "events": last["events"],
        "raw_events_per_s": statistics.median(r["raw_events_per_s"] for r in runs),
        "events_per_s": statistics.median(r["events_per_s"] for r in runs),
        "ratio": statistics.median(r["ratio"] for r in runs),
        "runs": runs,
        "oracle_problems": [p for r in runs for p in r["oracle_problems"]],
        **{key: last[key] for key in ("p50_s", "p99_s", "max_rate", "p50_max_s", "p99_max_s")},
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "seed_s": seed_s,
    }


def _load_pair(
    bootstrap: str,
    server_url: str,
    template: str,
    scale: ScaleEvents,
    *,
    latency: tuple[int, float] | None,
) -> dict[str, Any]:
    """The raw loader, then one worker, on the same events; with ``latency`` = ``(rate, seconds)`` the
    worker then takes events at ``rate`` and at 90% of its own throughput, ``seconds`` each."""
    settings = fresh_topics(bootstrap, "ingest")
    topic = settings.topics.hubspot_contacts
    events = produce_events(bootstrap, topic, scale.events, PARTITIONS)
    raw_db, worker_db = f"{template}_raw", f"{template}_worker"
    try:
        raw_url = copy_of(server_url, template, raw_db)
        before = _CpuSample.take(os.getpid())
        raw = raw_load(bootstrap, topic, raw_url, events)
        raw_cpu = _CpuSample.take(os.getpid()).per_event_us(before, events)
        drop(server_url, raw_db)
        url = copy_of(server_url, template, worker_db)
        with running_workers(bootstrap, url, settings, 1) as workers:
            want = (url, scale.existing + len(scale.new_ids))
            pid = workers.procs[0].pid
            cpu_at = _AtEnds(events, lambda: _CpuSample.take(pid))
            progress = workers.wait_for(events, time.monotonic() + _DEADLINE_S, want, cpu_at.sample)
            throughput = steady_rate(progress, events)
            first_at, first_count = progress[0]
            (_, start, before), (_, end, after) = cpu_at.ends
            worker_cpu = after.per_event_us(before, end - start)
            rss = _peak_rss_mb(pid)
            workers.committed_all(topic, time.monotonic() + 120)
            problems = check_against_oracle(url, scale, messages_in(bootstrap, settings.topics.crm_contacts))
            phases: dict[str, float] = {}
            if latency is not None:
                rate, seconds = latency
                next_id = scale.existing + len(scale.new_ids) + 1
                phases["p50_s"], phases["p99_s"] = _latency(workers, bootstrap, topic, next_id, rate, seconds)
                phases["max_rate"] = MAX_RATE_SHARE * throughput
                phases["p50_max_s"], phases["p99_max_s"] = _latency(
                    workers, bootstrap, topic, next_id + 10_000_000, phases["max_rate"], seconds
                )
                rss = max(rss, _peak_rss_mb(pid))
    finally:
        drop(server_url, raw_db, worker_db)
    return {
        "events": events,
        "raw_events_per_s": raw.steady_events_per_s,
        "events_per_s": throughput,
        "ratio": throughput / raw.steady_events_per_s,
        # the rates as measured until session 23 (from the first commit to the last, see bench/_rates.py)
        "raw_events_per_s_whole_run": raw.events_per_s,
        "events_per_s_from_first_commit": (events - first_count) / max(progress[-1][0] - first_at, 1e-9),
        "raw_cpu_us": raw_cpu,
        "worker_cpu_us": worker_cpu,
        "oracle_problems": problems,
        "peak_rss_mb": rss,
        **phases,
    }


@dataclass(frozen=True, slots=True)
class _CpuSample:
    """CPU seconds so far of a loader's process, of PostgreSQL's processes and of the Kafka broker's
    (the machine's ``postgres`` and ``java`` processes: run the benchmark on a machine to itself)."""

    process: float
    postgres: float
    kafka: float

    @classmethod
    def take(cls, pid: int) -> _CpuSample:
        servers = cpu_by_command("postgres", "java")
        return cls(cpu_seconds(pid), servers["postgres"], servers["java"])

    def per_event_us(self, before: _CpuSample, events: int) -> dict[str, float]:
        """µs of CPU an event since ``before``, by who used it, and their ``total``."""
        parts = {
            "process": self.process - before.process,
            "postgres": self.postgres - before.postgres,
            "kafka": self.kafka - before.kafka,
        }
        out = {name: seconds * 1e6 / max(events, 1) for name, seconds in parts.items()}
        out["total"] = sum(out.values())
        return out


class _AtEnds(Generic[T]):
    """What ``take`` returns (CPU seconds so far) at the two ends of the steady window
    (:func:`bench._rates.steady_window`): ``sample`` is ``wait_for``'s callback."""

    def __init__(self, events: int, take: Callable[[], T]) -> None:
        self.thresholds = window_thresholds(events)
        self.take = take
        #: (time, events done, what ``take`` returned) at each end reached so far
        self.ends: list[tuple[float, int, T]] = []

    def sample(self, at: float, done: int) -> None:
        while len(self.ends) < len(self.thresholds) and done >= self.thresholds[len(self.ends)]:
            self.ends.append((at, done, self.take()))


def scaling_trial(bootstrap: str, server_url: str, existing: int, new: int, updates: int) -> dict[str, Any]:
    """The same events on 6 partitions, ingested by one worker, then by two in one group."""
    scale = scale_events(existing, new, updates, seed=11)
    template = f"hubsync_bench_scaling_{existing}"
    seeded_template(server_url, template, scale)
    out: dict[str, Any] = {"existing": existing, "partitions": SCALING_PARTITIONS}
    try:
        for count in (1, 2):
            settings = fresh_topics(bootstrap, f"scaling{count}", SCALING_PARTITIONS)
            topic = settings.topics.hubspot_contacts
            events = produce_events(bootstrap, topic, scale.events, SCALING_PARTITIONS)
            name = f"{template}_{count}"
            url = copy_of(server_url, template, name)
            try:
                with running_workers(bootstrap, url, settings, count) as workers:
                    want = (url, existing + len(scale.new_ids))
                    procs = workers.procs
                    cpu_at = _AtEnds(events, lambda: [cpu_seconds(p.pid) for p in procs])  # noqa: B023
                    progress = workers.wait_for(events, time.monotonic() + _DEADLINE_S, want, cpu_at.sample)
                    (start, _, cpu_start), (end, _, cpu_end) = cpu_at.ends
                    elapsed = end - start
                    cpu = [b - a for a, b in zip(cpu_start, cpu_end, strict=True)]
                    workers.committed_all(topic, time.monotonic() + 120)
                    problems = check_against_oracle(
                        url, scale, messages_in(bootstrap, settings.topics.crm_contacts)
                    )
            finally:
                drop(server_url, name)
            out[f"workers_{count}"] = {
                "events_per_s": steady_rate(progress, events),
                "cpu_seconds": cpu,
                "seconds": elapsed,
                "oracle_problems": problems,
            }
    finally:
        drop(server_url, template)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", default="10000,100000,1000000", help="existing contacts, per scale")
    parser.add_argument("--new", type=int, default=90_000, help="new contacts among the events")
    parser.add_argument("--updates", type=int, default=10_000, help="updates of existing contacts")
    parser.add_argument("--rate", type=int, default=1_000, help="events/s of the first latency phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each latency phase")
    parser.add_argument(
        "--repeat", type=int, default=3, help="raw loader + worker pairs per scale (medians reported)"
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip the one- vs two-worker run")
    parser.add_argument(
        "--scaling-only", action="store_true", help="only the one- vs two-worker run, at the first scale"
    )
    parser.add_argument(
        "--quick", action="store_true", help="10,000 existing, 18,000 + 2,000 events, 5 s phases"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.existing, args.new, args.updates, args.seconds, args.repeat = "10000", 18_000, 2_000, 5.0, 1
    if args.scaling_only and args.no_scaling:
        parser.error("--scaling-only and --no-scaling exclude each other")
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    scales = [int(x) for x in args.existing.split(",")]
    results: list[dict[str, Any]] = []
    scaling: dict[str, Any] | None = None
    with servers() as (bootstrap, server_url):
        join_delay_ms = group_join_delay_ms(bootstrap)
        if join_delay_ms != GROUP_JOIN_DELAY_MS:
            print(
                f"note: the broker's group.initial.rebalance.delay.ms is {join_delay_ms}, not Kafka's default"
                f" {GROUP_JOIN_DELAY_MS}: the worker's consumers may join one after another, and the first"
                " to join applies alone until the others have",
                flush=True,
            )
        for existing in [] if args.scaling_only else scales:
            result = scale_trial(
                bootstrap, server_url, existing, args.new, args.updates, args.rate, args.seconds, args.repeat
            )
            print(f"{existing:,} existing: {result}", flush=True)
            results.append(result)
        if not args.no_scaling:
            scaling = scaling_trial(bootstrap, server_url, scales[0], args.new, args.updates)
            print(f"scaling: {scaling}", flush=True)
    write_report(args, results, scaling, join_delay_ms)
    failed = [r for r in results if r["oracle_problems"]]
    if scaling:
        failed += [w for k, w in scaling.items() if k.startswith("workers_") and w["oracle_problems"]]
    if failed:
        raise SystemExit(f"the oracle found differences: {[r['oracle_problems'] for r in failed]}")


def write_report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    scaling: dict[str, Any] | None,
    join_delay_ms: int,
) -> None:
    rows: list[dict[str, Any]] = []

    def row(
        metric: str, value: float | list[float], unit: str, target: str = "-", ok: bool | None = None
    ) -> None:
        samples = value if isinstance(value, list) else [value]
        rows.append({"metric": metric, "unit": unit, "target": target, "ok": ok, **summarize(samples)})

    for r in results:
        at = f"{r['existing']:,} existing"
        runs = r["runs"]
        row(f"{at}: oracle differences", len(r["oracle_problems"]), "", "0", not r["oracle_problems"])
        row(f"{at}: raw loader", [p["raw_events_per_s"] for p in runs], "ev/s")
        row(f"{at}: hubsync worker", [p["events_per_s"] for p in runs], "ev/s")
        # the target holds for the median of the pairs' ratios (each pair loaded the same events)
        row(
            f"{at}: worker / raw",
            [p["ratio"] for p in runs],
            "x",
            f">= {RATIO_TARGET} (median)",
            r["ratio"] >= RATIO_TARGET,
        )
        # CPU of every process involved, per event: steadier than rates on a machine whose speed moves
        row(f"{at}: CPU an event, raw loader (all processes)", [p["raw_cpu_us"]["total"] for p in runs], "us")
        row(f"{at}: CPU an event, worker (all processes)", [p["worker_cpu_us"]["total"] for p in runs], "us")
        row(f"{at}: of which the worker process", [p["worker_cpu_us"]["process"] for p in runs], "us")
        row(f"{at}: of which PostgreSQL", [p["worker_cpu_us"]["postgres"] for p in runs], "us")
        row(f"{at}: latency p50 at {args.rate}/s", r["p50_s"], "s")
        row(
            f"{at}: latency p99 at {args.rate}/s",
            r["p99_s"],
            "s",
            f"< {P99_TARGET_S}",
            r["p99_s"] < P99_TARGET_S,
        )
        row(f"{at}: latency p50 at {r['max_rate']:.0f}/s (max)", r["p50_max_s"], "s")
        row(f"{at}: latency p99 at {r['max_rate']:.0f}/s (max)", r["p99_max_s"], "s")
        row(
            f"{at}: worker peak RSS",
            r["peak_rss_mb"],
            "MB",
            f"<= {RSS_TARGET_MB:.0f}",
            r["peak_rss_mb"] <= RSS_TARGET_MB,
        )
    row("broker: group.initial.rebalance.delay.ms", join_delay_ms, "ms")
    if len(results) > 1:
        flat = results[-1]["ratio"] / results[0]["ratio"]
        row(
            "ratio at the largest scale / at the smallest",
            flat,
            "x",
            f">= {FLAT_TARGET}",
            flat >= FLAT_TARGET,
        )
    if scaling:
        one, two = scaling["workers_1"], scaling["workers_2"]
        row("6 partitions, one worker", one["events_per_s"], "ev/s")
        row("6 partitions, two workers (together)", two["events_per_s"], "ev/s")
        row("two workers / one", two["events_per_s"] / one["events_per_s"], "x")
        row("one worker: CPU s per s", sum(one["cpu_seconds"]) / one["seconds"], "cores")
        for i, cpu in enumerate(two["cpu_seconds"]):
            row(f"two workers: worker {i + 1} CPU s per s", cpu / two["seconds"], "cores")
    report(
        "ingest",
        f"Ingest: {args.new:,} new + {args.updates:,} updated contacts, {PARTITIONS} partitions, one worker",
        rows,
        extra={
            "scales": results,
            "scaling": scaling,
            "new": args.new,
            "updates": args.updates,
            "group_initial_rebalance_delay_ms": join_delay_ms,
        },
    )


if __name__ == "__main__":
    main()
