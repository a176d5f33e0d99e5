"""The demo's environment: the embedded stack, the HubSpot sandbox and hubsync's processes.

Everything runs on the embedded defaults (no Docker, no root): the dev stack's Kafka-compatible
broker and PostgreSQL (``hubsync dev up``, in its own directory ``~/.hubsync/demo``), the HubSpot
sandbox in this process (seeded, its webhooks signed and sent to hubsync's receiver), and hubsync's
components as child processes, as they would run in production: ``hubsync webhook``, ``hubsync
worker`` (ingest and push agents) and ``hubsync relay``. Each run uses fresh topic names and a fresh
consumer group, and a fresh ``hubsync`` schema, so it starts from a known state.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
from pydantic import SecretStr

from hubsync._runtime.processes import free_port
from hubsync.demo import DEMO_DIR
from hubsync.devstack import stack as devstack
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.topics import topic_specs

WEBHOOK_PATH = "/webhooks/hubspot"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    log: IO[str]

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return int(self.popen.returncode)


@dataclass
class DemoEnvironment:
    """What the tour works against; ``env`` is the environment of hubsync's processes."""

    settings: Settings
    env: dict[str, str]
    sandbox: ThreadedSandbox
    token: str
    webhook_secret: str
    processes: list[Process] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url.get_secret_value()

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url)

    def check_processes(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"hubsync {process.name} exited ({process.popen.returncode}):\n{process.tail()}"
                )

    def start(self, name: str, *args: str) -> Process:
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop_all
        popen = subprocess.Popen(
            [sys.executable, "-m", "hubsync", *args], env=self.env, stdout=log, stderr=log, text=True
        )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
            process.log.close()
        self.processes.clear()


def _fresh_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS hubsync CASCADE")
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        seed_defaults(conn, load_defaults())


@contextlib.contextmanager
def demo_environment(
    *,
    contacts: int,
    say: Callable[[str], None],
    dev_dir: Path = DEMO_DIR,
) -> Iterator[DemoEnvironment]:
    """Start everything; stop all of it (the dev stack too) on exit."""
    started = time.perf_counter()
    state = devstack.up(dev_dir, progress=say)
    say(f"embedded broker at {state.kafka_bootstrap_servers}, PostgreSQL at {state.database_url}")
    run_id = uuid.uuid4().hex[:8]
    topics = TopicNames(**{role: f"demo.{run_id}.{name}" for role, name in TopicNames().model_dump().items()})
    token = f"pat-demo-{secrets.token_hex(8)}"
    webhook_secret = secrets.token_hex(16)
    webhook_port = free_port()
    webhook_url = f"http://127.0.0.1:{webhook_port}{WEBHOOK_PATH}"
    config = SandboxConfig(
        access_token=SecretStr(token), webhook_url=webhook_url, webhook_secret=SecretStr(webhook_secret)
    )
    sandbox = ThreadedSandbox(config, seed=SeedSpec(contacts=contacts, seed=7, duplicate_share=0.05)).start()
    settings = Settings(
        kafka_bootstrap_servers=state.kafka_bootstrap_servers,
        database_url=SecretStr(state.database_url),
        hubspot_access_token=SecretStr(token),
        hubspot_base_url=sandbox.base_url,
        hubspot_webhook_secret=SecretStr(webhook_secret),
        topics=topics,
        topic_partitions=2,
        consumer_group=f"demo-{run_id}",
    )
    _fresh_schema(state.database_url)
    ensure_topics(admin_client(state.kafka_bootstrap_servers), topic_specs(settings))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": state.kafka_bootstrap_servers,
        "DATABASE_URL": state.database_url,
        "HUBSPOT_BASE_URL": sandbox.base_url,
        "HUBSPOT_ACCESS_TOKEN": token,
        "HUBSPOT_WEBHOOK_SECRET": webhook_secret,
        "HUBSYNC_CONSUMER_GROUP": settings.consumer_group,
        "HUBSYNC_TOPIC_PARTITIONS": "2",
        "HUBSYNC_METRICS_PORT": "0",
        "HUBSYNC_INGEST_BATCH_WAIT_MS": "100",
        "HUBSYNC_RELAY_POLL_INTERVAL": "1",
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in topics.model_dump().items()},
    }
    demo = DemoEnvironment(settings, env, sandbox, token, webhook_secret)
    try:
        demo.start("webhook", "webhook", "--port", str(webhook_port), "--path", WEBHOOK_PATH)
        demo.start("worker", "worker")
        demo.start("relay", "relay")
        say(f"sandbox at {sandbox.base_url}; webhook receiver at {webhook_url}; worker and relay started")
        say(f"environment ready in {time.perf_counter() - started:.1f} s")
        yield demo
    finally:
        demo.stop_all()
        sandbox.stop()
        devstack.down(dev_dir)
