"""The fault suite's deployment: the HubSpot sandbox and hubsync's four processes (worker with the
ingest and push agents, outbox relay, webhook receiver, poller), each a ``hubsync`` command of its
own, over one PostgreSQL server this harness owns (so it can restart it) and Apache Kafka.

Every process can be killed, restarted, or restarted with a crash point armed
(``HUBSYNC_CRASH_AT``, :mod:`hubsync._runtime.crashpoints`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from hubsync._runtime.processes import free_port
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.roles import grant_runtime_role
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.topics import topic_specs
from hubsync.testing import PostgresServer
from hubsync.testing.child_env import child_env
from hubsync.testing.kafka_cluster import KafkaCluster

TOKEN = "pat-na1-faults-0000-0000-000000000000"
SECRET = "faults-webhook-secret-3c9d"
#: the processes' database role and its password (the scan looks for it everywhere)
RUNTIME_ROLE = "hubsync_app"
DATABASE_PASSWORD = "faults-db-password-81f0"
#: a value HubSpot refuses: a validation rule on ``lastname`` (the workload plants a few)
REFUSED_LASTNAME_LENGTH = 40
#: the processes, by name, and their commands
COMPONENTS = ("worker", "relay", "webhook", "poller")


@dataclass
class Component:
    """One ``hubsync`` process: started, killed, restarted, its output kept in a log file."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    #: names its log files (default: the command); two processes of one command need two labels
    label: str = ""

    def start(self, crash_at: str | None = None) -> None:
        env = child_env(self.env)
        if crash_at:
            env["HUBSYNC_CRASH_AT"] = crash_at
        self.starts += 1
        path = self.log_dir / f"{self.label or self.name}.{self.starts}.log"
        self.logs.append(path)
        with path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hubsync", self.name, *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_exit(self, timeout_s: float) -> int | None:
        """The exit code once the process ended within ``timeout_s``, else None."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.alive or self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        if self.wait_exit(timeout_s) is None:
            self.kill()

    def output(self) -> str:
        return self.logs[-1].read_text(errors="replace") if self.logs else ""

    def all_output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


@dataclass
class FaultEnvironment:
    """The deployment under test; :func:`fault_environment` makes one and tears it down."""

    bootstrap: str
    postgres: PostgresServer
    database_url: str
    sandbox: ThreadedSandbox
    settings: Settings
    components: dict[str, Component]
    webhook_port: int
    log_dir: Path
    #: the three-node Kafka cluster when the deployment runs on one (its faults need it)
    cluster: KafkaCluster | None = None

    @property
    def api(self) -> httpx.Client:
        """A client of the sandbox (HubSpot's API and the sandbox's control API)."""
        return httpx.Client(
            base_url=self.sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.database_url, autocommit=True)

    def ensure_running(self, names: tuple[str, ...] = COMPONENTS) -> None:
        """Start the named components that are not running, stop the others."""
        for name, component in self.components.items():
            if name in names and not component.alive:
                component.start()
            elif name not in names and component.alive:
                component.stop()

    def restart_postgres(self, down_s: float = 2.0) -> None:
        """Stop PostgreSQL (fast shutdown: every session cut), stay down ``down_s``, start it again."""
        self.postgres.restart(down_s=down_s)

    def cut_connections(self) -> int:
        """Terminate every other session of the database; returns how many."""
        with psycopg.connect(self.postgres.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return len(rows)


def _topics(bootstrap: str, partitions: int, replicas: int) -> Settings:
    uid = uuid.uuid4().hex[:8]
    names = {role: f"faults.{uid}.{role.replace('_', '.')}" for role in TopicNames.model_fields}
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topics=TopicNames(**names),
        topic_partitions=partitions,
        topic_replication_factor=replicas,
        consumer_group=f"faults-{uid}",
    )
    ensure_topics(admin_client(bootstrap), topic_specs(settings))
    return settings


def _env(bootstrap: str, database_url: str, settings: Settings, base_url: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "HUBSYNC_CONSUMER_GROUP": settings.consumer_group,
        "HUBSYNC_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "HUBSYNC_TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
        "HUBSYNC_METRICS_PORT": "0",
        "HUBSYNC_METRICS_HOST": "127.0.0.1",
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in settings.topics.model_dump().items()},
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": base_url,
        "HUBSPOT_WEBHOOK_SECRET": SECRET,
        "HUBSYNC_POLL_SETTLE_MS": "0",
        "HUBSYNC_HUBSPOT_READ_TIMEOUT_S": "3",
        # the "midnight" reset of the daily-limit fault comes seconds later, not hours
        "HUBSYNC_HUBSPOT_BLOCKED_WAIT_S": "5",
        # a kill -9'd worker leaves the group after 6 s (the broker's minimum), not Faust's 60 s
        "BROKER_SESSION_TIMEOUT": "6",
        "BROKER_HEARTBEAT_INTERVAL": "1",
    }


@contextlib.contextmanager
def fault_environment(
    bootstrap: str, *, partitions: int = 3, cluster: KafkaCluster | None = None, keep_logs: bool = False
) -> Iterator[FaultEnvironment]:
    """A fresh deployment: its own PostgreSQL server (migrated, defaults seeded), new topics (on
    ``cluster`` with three replicas when given), a sandbox delivering webhooks to the receiver's
    port, and the four processes started."""
    with contextlib.ExitStack() as stack:
        log_dir = Path(tempfile.mkdtemp(prefix="hubsync-faults-"))
        if not keep_logs:
            stack.callback(shutil.rmtree, log_dir, True)
        postgres = stack.enter_context(PostgresServer())
        owner_url = postgres.url
        migrate(owner_url)
        with psycopg.connect(owner_url) as conn:
            seed_defaults(conn, load_defaults())
            # the processes (and the workload's platform writes) run as a role that cannot change
            # the schema: the whole pipeline works without DDL (docs/deploy.md#database-roles)
            conn.execute(f"CREATE ROLE {RUNTIME_ROLE} LOGIN PASSWORD '{DATABASE_PASSWORD}'")
            grant_runtime_role(conn, RUNTIME_ROLE)
            conn.commit()
        url = f"postgresql://{RUNTIME_ROLE}:{DATABASE_PASSWORD}@127.0.0.1:{postgres.port}/{postgres.database}"
        port = free_port()
        config = SandboxConfig(
            access_token=SecretStr(TOKEN),
            webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot",
            webhook_secret=SecretStr(SECRET),
            burst_limit=10_000,
            search_per_second=1_000,
        )
        sandbox = stack.enter_context(ThreadedSandbox(config))
        settings = _topics(bootstrap, partitions, 1 if cluster is None else cluster.size)
        env = _env(bootstrap, url, settings, sandbox.base_url)
        args = {
            "worker": (),
            "relay": ("--poll-interval", "1"),
            "webhook": ("--port", str(port)),
            "poller": ("--interval", "1"),
        }
        components = {name: Component(name, args[name], env, log_dir) for name in COMPONENTS}
        environment = FaultEnvironment(
            bootstrap, postgres, url, sandbox, settings, components, port, log_dir, cluster
        )
        with environment.api as api:
            api.post(
                "/_sandbox/validation-rules",
                json={
                    "object_type": "contact",
                    "property": "lastname",
                    "kind": "max_length",
                    "max_length": REFUSED_LASTNAME_LENGTH,
                    "message": f"Last names are at most {REFUSED_LASTNAME_LENGTH} characters here",
                },
            ).raise_for_status()
        try:
            environment.ensure_running()
            time.sleep(0.5)
            yield environment
        finally:
            for component in components.values():
                component.stop()
