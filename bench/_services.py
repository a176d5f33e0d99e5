"""What the benchmarks share: real Apache Kafka and PostgreSQL (``$KAFKA_BOOTSTRAP_SERVERS`` /
``$DATABASE_URL`` when set, else started here), fresh topics and databases, the sandbox as a
process of its own, and process measurements."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry

from hubsync._runtime.processes import parse_proc_stat
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from hubsync.streams.admin import ensure_change_topics
from hubsync.testing import ApacheKafkaServer, PostgresServer, fresh_database

#: partitions of the topics the benchmarks create
PARTITIONS = 3


@contextlib.contextmanager
def kafka_and_postgres() -> Iterator[tuple[str, str]]:
    """``(bootstrap servers, URL of a fresh migrated database)``: the servers named by
    ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set, else test servers started here."""
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(ApacheKafkaServer()).bootstrap_servers
        server_url = os.environ.get("DATABASE_URL")
        if server_url:
            url = stack.enter_context(fresh_database(server_url, "hubsync_bench"))
        else:
            url = stack.enter_context(PostgresServer()).url
        migrate(url)
        yield bootstrap, url


def fresh_topics(bootstrap: str, label: str, partitions: int = PARTITIONS) -> Settings:
    """Settings whose change topics are new (a unique prefix), created with ``partitions``."""
    prefix = f"bench.{label}.{uuid.uuid4().hex[:8]}."
    topics = TopicNames(**{role: prefix + name for role, name in TopicNames().model_dump().items()})
    settings = Settings(kafka_bootstrap_servers=bootstrap, topics=topics, topic_partitions=partitions)
    ensure_change_topics(settings)
    return settings


def messages_in(bootstrap: str, topic: str) -> int:
    """How many messages ``topic`` holds (sum of its partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        )
    finally:
        consumer.close()


def count_requests(registry: CollectorRegistry) -> dict[str, int]:
    """HubSpot requests by status from a ``HubSpotClientMetrics`` registry."""
    by_status: dict[str, int] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "hubsync_hubspot_requests_total":
                status = sample.labels["status"]
                by_status[status] = by_status.get(status, 0) + int(sample.value)
    return by_status


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_sandbox(args: list[str], *, cpus: set[int] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``hubsync sandbox --port 0 ARGS`` in its own process; returns it and its base URL once
    it serves (after seeding)."""

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = subprocess.Popen(
        [sys.executable, "-m", "hubsync", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=pin,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"HUBSPOT_BASE_URL=(\S+)", line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _cpu_ticks(fields: list[str]) -> int:
    """utime + stime of the fields after the command."""
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        _, fields = parse_proc_stat(stat.read())
    return _cpu_ticks(fields) / os.sysconf("SC_CLK_TCK")


def _stats() -> Iterator[tuple[int, str, list[str]]]:
    """``(pid, command, the fields after it)`` of every process; the ones gone meanwhile left out."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                raw = stat.read()
        except OSError:
            continue
        yield (int(entry.name), *parse_proc_stat(raw))


def cpu_by_command(*commands: str) -> dict[str, float]:
    """CPU seconds used by the processes named each of ``commands`` (``postgres``, ``java``) and,
    through the root of their tree (a postmaster), by the ones that have exited: the difference of
    two calls is what they used in between, backends and autovacuum workers that came and went
    included. One pass over ``/proc`` for all of them."""
    procs = {pid: (name, fields) for pid, name, fields in _stats()}
    ticks = dict.fromkeys(commands, 0)
    for name, fields in procs.values():
        if name not in ticks:
            continue
        ticks[name] += _cpu_ticks(fields)
        parent = procs.get(int(fields[1]))
        if parent is None or parent[0] != name:  # the tree's root: its reaped children too
            ticks[name] += int(fields[13]) + int(fields[14])
    return {name: n / os.sysconf("SC_CLK_TCK") for name, n in ticks.items()}


# ---- the worker (a child process) ------------------------------------------------------------
