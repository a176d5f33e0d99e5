"""Helpers for the ``hubsync worker`` integration tests (no tests here).

* :func:`prepare_worker` gives a test its own topics (every role, unique names, created with
  :func:`~hubsync.streams.admin.ensure_topics`), consumer group and migrated, seeded database,
  and the environment a worker process needs to use them;
* :class:`WorkerProcess` / :func:`running_worker` run ``hubsync worker --no-refresh`` as a
  subprocess, wait for conditions in PostgreSQL (failing with the worker's stderr when it
  dies or the condition does not hold in time), stop it with SIGTERM or SIGKILL, and always
  clean up;
* :func:`produce` writes raw messages (explicit partitions allowed, tombstones too) and
  returns their positions; :class:`TopicDrain` reads whole topics; :func:`committed_offsets`
  and :func:`end_offsets` compare a group's progress with the topic.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.settings import Settings, TopicNames
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.lag import committed_offsets as group_offsets
from hubsync.streams.topics import consumer_groups, topic_specs
from hubsync.testing import wait_for
from hubsync.testing.child_env import INHERITED_NAMES, INHERITED_PREFIXES, child_env

#: environment variables a worker must not inherit from the test process (see child_env)
_INHERITED_PREFIXES = INHERITED_PREFIXES
_INHERITED_NAMES = INHERITED_NAMES
_METRICS_LINE = re.compile(r"metrics on http://([^\s/]+):(\d+)/metrics")

Row = tuple[Any, ...]


# --- per-test topics, group and database --------------------------------------------------------


@dataclass(frozen=True)
class WorkerSetup:
    """One test's topics, consumer group and database, and the environment of its workers."""

    bootstrap: str
    database_url: str
    settings: Settings
    env: Mapping[str, str]
    partitions: int

    @property
    def topics(self) -> TopicNames:
        return self.settings.topics

    @property
    def ingest_group(self) -> str:
        """The realtime ingest lane's consumer group (``hubspot.*.changes``)."""
        return consumer_groups(self.settings).changes

    @property
    def agents_group(self) -> str:
        """The Faust app's consumer group (the push agents')."""
        return consumer_groups(self.settings).agents

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}


def prepare_worker(
    bootstrap: str, database_url: str, *, partitions: int = 3, **extra_env: str
) -> WorkerSetup:
    """Migrate and seed ``database_url`` (an empty database), create every topic under a unique
    name with ``partitions`` partitions, and return the workers' environment."""
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        seed_defaults(conn, load_defaults())  # the field mappings, as `hubsync db migrate` loads them
    uid = uuid.uuid4().hex[:10]
    names = {role: f"test.worker.{uid}.{role.replace('_', '.')}" for role in TopicNames.model_fields}
    group = f"test-worker-{uid}"
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=SecretStr(database_url),
        topics=TopicNames(**names),
        topic_partitions=partitions,
        consumer_group=group,
    )
    ensure_topics(admin_client(bootstrap), topic_specs(settings))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "HUBSYNC_CONSUMER_GROUP": group,
        "HUBSYNC_TOPIC_PARTITIONS": str(partitions),
        "HUBSYNC_METRICS_PORT": "0",  # never the default 9400: workers and tests run side by side
        "HUBSYNC_METRICS_HOST": "127.0.0.1",
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in names.items()},
        # Faust reads these from the environment. Its default session timeout (60 s) keeps a
        # kill -9'd worker in the group for a minute, stalling its partitions (and a restart)
        # that long; the broker's minimum is 6 s.
        "BROKER_SESSION_TIMEOUT": "6",
        "BROKER_HEARTBEAT_INTERVAL": "1",
        **extra_env,
    }
    return WorkerSetup(bootstrap, database_url, settings, env, partitions)


# --- the worker process -------------------------------------------------------------------------


def _hubsync_command() -> list[str]:
    script = Path(sys.executable).with_name("hubsync")
    if script.exists():
        return [str(script)]
    found = shutil.which("hubsync")
    if found:
        return [found]
    return [sys.executable, "-c", "from hubsync.cli import main; main()"]


class WorkerDiedError(AssertionError):
    """The worker process exited while a test waited for it."""


@dataclass
class WorkerProcess:
    """``hubsync worker --no-refresh`` in a subprocess; stdout and stderr go to a log file."""

    env: Mapping[str, str]
    name: str = "worker"
    args: Sequence[str] = ("--no-refresh",)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def start(self) -> WorkerProcess:
        if self.process is not None:
            raise RuntimeError(f"{self.name} already started")
        self._log_dir = tempfile.TemporaryDirectory(prefix=f"hubsync-{self.name}-")
        self.log_path = Path(self._log_dir.name) / "worker.log"
        env = child_env(self.env)  # COLUMNS=400: rich must not wrap the "metrics on ..." line
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*_hubsync_command(), "worker", *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: cleanup never touches ours
            )
        return self

    # -- state ------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def describe(self) -> str:
        code = None if self.process is None else self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        return (
            f"{self.name} (pid {self.process.pid if self.process else '-'}, {state}); output:\n{self.tail()}"
        )

    def check_alive(self) -> None:
        if not self.alive():
            raise WorkerDiedError(f"{self.name} is not running: {self.describe()}")

    # -- waiting ----------------------------------------------------------------------------

    def wait_until(
        self,
        condition: Callable[[], bool],
        what: str,
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
    ) -> None:
        """Poll ``condition`` until it holds; fail with the worker's output when it dies first
        or ``timeout`` passes."""

        def held() -> bool:
            if condition():
                return True
            self.check_alive()
            return False

        wait_for(held, timeout=timeout, interval=interval, what=lambda: f"{what}; {self.describe()}")

    def metrics_url(self, timeout: float = 30.0) -> str:
        """The ``/metrics`` URL the worker printed at start."""
        found: list[str] = []

        def printed() -> bool:
            match = _METRICS_LINE.search(self.output())
            if match:
                found.append(f"http://{match.group(1)}:{match.group(2)}/metrics")
            return bool(found)

        self.wait_until(printed, "the metrics URL", timeout=timeout)
        return found[0]

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The worker's samples: ``(name, sorted labels) -> value``."""
        text = httpx.get(self.metrics_url(), timeout=5).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    # -- stopping ---------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code (fails when it hangs)."""
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not stop within {timeout:.0f} s of SIGTERM; {self.describe()}"
            ) from None

    def kill(self) -> int:
        """SIGKILL the worker (and anything it started in its process group); returns the exit code."""
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(30)

    def close(self) -> None:
        """Kill what is left; keep nothing behind."""
        if self.process is not None:
            if self.process.poll() is None:
                self.kill()
            else:  # the worker is gone; anything it left in its group goes too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None


@contextlib.contextmanager
def running_worker(env: Mapping[str, str], name: str = "worker") -> Iterator[WorkerProcess]:
    """A started worker; killed on the way out unless the test stopped it already."""
    worker = WorkerProcess(env, name=name)
    try:
        yield worker.start()
    finally:
        worker.close()


# --- PostgreSQL ---------------------------------------------------------------------------------


def query(database_url: str, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[Row]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(database_url: str, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
    return query(database_url, sql, params)[0][0]


def contact_count(database_url: str) -> int:
    return int(scalar(database_url, "SELECT count(*) FROM hubsync.contacts"))


# --- Kafka --------------------------------------------------------------------------------------


def change_event_codec() -> tuple[SingleObjectCodec, Any]:
    codec = SingleObjectCodec(SchemaRepository())
    return codec, codec.repository.current("hubspot_change_event")


@dataclass(frozen=True)
class Produced:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None, int | None]],
    *,
    timeout: float = 60.0,
) -> list[Produced]:
    """Produce ``(key, value, partition or None)`` messages, in order; return where each landed
    once the broker acknowledged all of them."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 10,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    sent: list[tuple[bytes | None, bytes | None]] = []
    positions: dict[int, tuple[int, int]] = {}
    errors: list[KafkaError] = []

    def on_delivery(index: int) -> Callable[[KafkaError | None, Message], None]:
        def report(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(err)
            else:
                positions[index] = (int(msg.partition() or 0), int(msg.offset() or 0))

        return report

    for index, (key, value, partition) in enumerate(messages):
        sent.append((key, value))
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": on_delivery(index)}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
        if index % 5_000 == 4_999:
            producer.poll(0)
    wait_for(
        lambda: producer.flush(1.0) == 0,
        timeout=timeout,
        interval=0,  # flush() waits by itself
        what=f"the broker to acknowledge the messages to {topic}",
    )
    if errors:
        raise AssertionError(f"{len(errors)} message(s) to {topic} failed: {errors[0].str()}")
    return [Produced(k, v, *positions[i]) for i, (k, v) in enumerate(sent)]


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic`` (negative: none committed)."""
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    return {tp.partition: tp.offset for tp in group_offsets(bootstrap, group, parts, timeout=10)}


@dataclass
class TopicDrain:
    """Reads every partition of a topic from the beginning (no group, nothing committed)."""

    bootstrap: str
    topic: str
    partitions: int
    messages: list[Message] = field(default_factory=list)
    _consumer: Consumer | None = None

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"drain-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(self.partitions)]
        )

    def drain(self, timeout: float = 20.0) -> list[Message]:
        """Every message up to the high watermarks of now."""
        consumer = self._consumer
        assert consumer is not None
        high = {
            p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
            for p in range(self.partitions)
        }
        seen = dict.fromkeys(range(self.partitions), -1)
        for message in self.messages:
            seen[message.partition()] = max(seen[message.partition()], message.offset())

        def caught_up() -> bool:
            if all(seen[p] + 1 >= high[p] for p in high):
                return True
            for message in consumer.consume(10_000, 0.2):
                if message.error() is not None:
                    continue
                self.messages.append(message)
                seen[message.partition()] = max(seen[message.partition()], message.offset())
            return False

        wait_for(
            caught_up,
            timeout=timeout,
            interval=0,  # consume() waits by itself
            what=lambda: f"{self.topic} to catch up with {high} (at {seen})",
        )
        return list(self.messages)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> TopicDrain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
