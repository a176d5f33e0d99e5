"""The embedded dev stack: a Tansu broker and a PostgreSQL server under one directory.

Layout of ``dev_dir``::

    state.json        connection settings and pids while the stack runs (read by
                      ``hubsync.settings.read_dev_state``; removed by ``down``)
    ports.json        the ports last used, preferred on the next ``up`` so URLs stay stable
    postgres/         the PostgreSQL cluster; persists across ``down``/``up``
    logs/             tansu.log, postgres.log
    tansu.pid         the broker pid, written as soon as it is launched
    .lock             serialises concurrent ``up``/``down`` on the same directory

The broker uses memory storage: topics and records do NOT survive ``down`` (or a crash).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubsync._runtime.errors import ServiceError, reraise_as
from hubsync._runtime.processes import LOOPBACK, free_port, port_is_free
from hubsync._runtime.runas import grant_search, unprivileged_user
from hubsync.devstack import postgres, tansu
from hubsync.devstack.errors import DevStackError
from hubsync.settings import DEV_STATE_FILE

if sys.platform != "win32":
    import fcntl

PORTS_FILE = "ports.json"
LOG_DIR = "logs"
STARTUP_TIMEOUT = 60.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DevStackState:
    """What ``up`` started; serialised to ``state.json``."""

    dev_dir: Path
    kafka_bootstrap_servers: str
    database_url: str
    kafka_pid: int
    kafka_port: int
    postgres_pid: int
    postgres_port: int
    started_at: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dev_dir"] = str(self.dev_dir)
        data["started_at"] = self.started_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DevStackState | None:
        """Parse ``state.json`` content; ``None`` when it is not a complete state."""
        try:
            return cls(
                dev_dir=Path(data["dev_dir"]),
                kafka_bootstrap_servers=str(data["kafka_bootstrap_servers"]),
                database_url=str(data["database_url"]),
                kafka_pid=int(data["kafka_pid"]),
                kafka_port=int(data["kafka_port"]),
                postgres_pid=int(data["postgres_pid"]),
                postgres_port=int(data["postgres_port"]),
                started_at=datetime.fromisoformat(data["started_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ComponentStatus:
    """One component: ``running`` means its process is alive AND it answers its protocol."""

    name: str
    running: bool
    address: str | None
    pid: int | None


@dataclass(frozen=True)
class DevStackStatus:
    """The outcome of :func:`status`; ``running`` only when both components run and answer."""

    dev_dir: Path
    kafka: ComponentStatus
    postgres: ComponentStatus

    @property
    def running(self) -> bool:
        return self.kafka.running and self.postgres.running

    def to_json(self) -> dict[str, Any]:
        return {
            "dev_dir": str(self.dev_dir),
            "running": self.running,
            "components": [asdict(self.kafka), asdict(self.postgres)],
        }


@reraise_as(DevStackError)
def up(
    dev_dir: Path,
    *,
    kafka_port: int | None = None,
    pg_port: int | None = None,
    progress: Progress | None = None,
) -> DevStackState:
    """Start the stack in the background (idempotent) and return its connection settings.

    Components already running and answering are kept. Without an explicit port, the port used
    last time (else the default) is taken when free, any free port otherwise. Both processes run
    in their own session and outlive the caller. On failure, whatever this call started is
    stopped again and :class:`DevStackError` carries the tail of the component's log.
    """
    _require_posix()
    say = progress or (lambda _msg: None)
    dev_dir = dev_dir.expanduser().resolve()
    log_dir = dev_dir / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    with _locked(dev_dir):
        previous = _read_state(dev_dir)
        kafka = _live_kafka(dev_dir, previous)
        pg = _live_postgres(dev_dir)
        _check_requested("Kafka", kafka, kafka_port)
        _check_requested("PostgreSQL", pg, pg_port)
        if previous and (kafka, pg) == (
            (previous.kafka_pid, previous.kafka_port),
            (previous.postgres_pid, previous.postgres_port),
        ):
            say("dev stack already running")
            return previous

        last_ports = _read_ports(dev_dir)
        started: list[str] = []
        try:
            if kafka is None:
                tansu.stop(dev_dir, previous.kafka_pid if previous else None)
                port = _choose_port(kafka_port, _sticky(last_ports, "kafka", tansu.DEFAULT_PORT), "Kafka")
                say(f"starting Tansu broker (memory storage) on {LOOPBACK}:{port}")
                kafka = (tansu.start(dev_dir, log_dir, port), port)
                started.append("kafka")
            if pg is None:
                pg = _start_postgres(dev_dir, log_dir, pg_port, last_ports, say)
                started.append("postgres")
            postgres.cluster(dev_dir).ensure_database(pg[1], postgres.DATABASE)
            if "kafka" in started:
                say("waiting for the broker to answer metadata requests")
                tansu.wait_ready(kafka[0], kafka[1], log_dir, timeout=STARTUP_TIMEOUT)
        except BaseException:
            if "kafka" in started:
                with contextlib.suppress(ServiceError):
                    tansu.stop(dev_dir, kafka[0] if kafka else None)
            if "postgres" in started:
                with contextlib.suppress(ServiceError):
                    postgres.cluster(dev_dir, unprivileged_user()).stop()
            raise

        state = DevStackState(
            dev_dir=dev_dir,
            kafka_bootstrap_servers=tansu.bootstrap_servers(kafka[1]),
            database_url=postgres.database_url(pg[1]),
            kafka_pid=kafka[0],
            kafka_port=kafka[1],
            postgres_pid=pg[0],
            postgres_port=pg[1],
            started_at=previous.started_at if previous and not started else datetime.now(UTC),
        )
        _write_json(dev_dir / DEV_STATE_FILE, state.to_json())
        _write_json(dev_dir / PORTS_FILE, {"kafka": kafka[1], "postgres": pg[1]})
        return state


@reraise_as(DevStackError)
def down(dev_dir: Path) -> None:
    """Stop both components and remove ``state.json``; a no-op when nothing runs.

    The broker gets SIGTERM (SIGKILL after 10 s); PostgreSQL is stopped with
    ``pg_ctl stop -m fast``. PostgreSQL data under ``dev_dir/postgres`` is kept for the next
    ``up``; the broker's memory storage is not, so topics and records are gone.
    """
    _require_posix()
    dev_dir = dev_dir.expanduser().resolve()
    if not dev_dir.is_dir():
        return
    with _locked(dev_dir):
        state = _read_state(dev_dir)
        try:
            tansu.stop(dev_dir, state.kafka_pid if state else None)
        finally:
            if postgres.read_postmaster(dev_dir) is not None:
                postgres.cluster(dev_dir, unprivileged_user()).stop()
            with contextlib.suppress(FileNotFoundError):
                (dev_dir / DEV_STATE_FILE).unlink()


@reraise_as(DevStackError)
def status(dev_dir: Path) -> DevStackStatus:
    """Check each component: its process is alive and it answers (metadata / ``SELECT 1``)."""
    _require_posix()
    dev_dir = dev_dir.expanduser().resolve()
    state = _read_state(dev_dir)
    recorded = state.kafka_pid if state else tansu.read_pid(dev_dir)
    kafka_pid = recorded if recorded is not None and tansu.is_tansu(dev_dir, recorded) else None
    pg = postgres.read_postmaster(dev_dir)
    pg_port = pg[1] if pg else (state.postgres_port if state else None)
    return DevStackStatus(
        dev_dir=dev_dir,
        kafka=ComponentStatus(
            name="kafka (tansu)",
            running=bool(state and kafka_pid and tansu.answers(state.kafka_port)),
            address=state.kafka_bootstrap_servers if state else None,
            pid=kafka_pid,
        ),
        postgres=ComponentStatus(
            name="postgresql",
            running=pg is not None and postgres.cluster(dev_dir).answers(pg[1], postgres.DATABASE),
            address=postgres.database_url(pg_port) if pg_port else None,
            pid=pg[0] if pg else None,
        ),
    )


def _require_posix() -> None:
    if os.name != "posix":
        raise DevStackError("the embedded dev stack runs on Linux and macOS only")


def _start_postgres(
    dev_dir: Path, log_dir: Path, requested: int | None, last_ports: dict[str, int], say: Progress
) -> tuple[int, int]:
    runas = unprivileged_user()
    pg = postgres.cluster(dev_dir, runas)
    pg.stop()  # a server that is alive but does not answer
    if runas:
        say(f"running as root: PostgreSQL will run as the unprivileged user {runas.name!r}")
        for path in grant_search(runas, postgres.traversed_dirs(pg, log_dir)):
            say(f"granted search permission (o+x) on {path} to {runas.name!r}")
    if not pg.is_initialized():
        say(f"initialising the PostgreSQL cluster in {pg.data_dir} (first run)")
    postgres.initialize(pg)
    port = _choose_port(requested, _sticky(last_ports, "postgres", postgres.DEFAULT_PORT), "PostgreSQL")
    say(f"starting PostgreSQL on {LOOPBACK}:{port}")
    return pg.start(port, log_file=log_dir / postgres.LOG_FILE).process.pid, port


def _live_kafka(dev_dir: Path, state: DevStackState | None) -> tuple[int, int] | None:
    """``(pid, port)`` of the broker recorded in ``state`` if it is alive and answering."""
    if (
        state
        and state.kafka_pid == tansu.read_pid(dev_dir)
        and tansu.is_tansu(dev_dir, state.kafka_pid)
        and tansu.answers(state.kafka_port)
    ):
        return state.kafka_pid, state.kafka_port
    return None


def _live_postgres(dev_dir: Path) -> tuple[int, int] | None:
    pg = postgres.cluster(dev_dir)
    running = pg.postmaster()
    return (running.process.pid, running.port) if running and pg.answers(running.port) else None


def _check_requested(component: str, running: tuple[int, int] | None, port: int | None) -> None:
    if running and port is not None and running[1] != port:
        raise DevStackError(
            f"{component} already runs on port {running[1]}, not {port}; run `hubsync dev down` first"
        )


def _choose_port(requested: int | None, default: int, component: str) -> int:
    """``requested`` if free (error otherwise); else ``default`` if free; else any free port."""
    if requested is not None:
        if not port_is_free(requested):
            raise DevStackError(f"{component}: port {requested} on {LOOPBACK} is already in use")
        return requested
    return default if port_is_free(default) else free_port()


def _sticky(last_ports: dict[str, int], key: str, default: int) -> int:
    """The port used last time when it is free again, else the default."""
    last = last_ports.get(key)
    return last if last and port_is_free(last) else default


def _read_state(dev_dir: Path) -> DevStackState | None:
    data = _read_json(dev_dir / DEV_STATE_FILE)
    return DevStackState.from_json(data) if data else None


def _read_ports(dev_dir: Path) -> dict[str, int]:
    data = _read_json(dev_dir / PORTS_FILE) or {}
    return {k: v for k, v in data.items() if isinstance(v, int)}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so readers never see a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(dev_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``dev_dir/.lock`` (waits up to 2 minutes for another up/down)."""
    with (dev_dir / ".lock").open("a") as handle:
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DevStackError(f"another `hubsync dev` command holds {dev_dir / '.lock'}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
