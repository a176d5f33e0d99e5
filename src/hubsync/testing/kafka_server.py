"""A real, single-node Apache Kafka 4 broker (KRaft, combined broker+controller) for tests.

``ApacheKafkaServer`` runs the broker from the Maven-cached jars as ``java kafka.Kafka`` in its
own session, so the same object serves an in-process lifecycle (pytest fixtures, ``with``) and
the detached ``python -m hubsync.testing up``, which records :meth:`ApacheKafkaServer.state` and
later rebuilds the handle with :meth:`ApacheKafkaServer.from_state` to stop it.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from hubsync._runtime.errors import log_tail
from hubsync._runtime.processes import ProcessRef, free_port, port_open, spawn_in_session, terminate
from hubsync.testing._kafka_jvm import (
    KAFKA_VERSION,
    KafkaServerError,
    broker_software_version,
    cds_archive,
    fetch_jars,
    java_command,
    kafka_release,
    on_fresh_ports,
)

__all__ = [
    "KAFKA_VERSION",
    "ApacheKafkaServer",
    "KafkaServerError",
    "broker_software_version",
    "fetch_jars",
    "kafka_release",
]

_HOST = "127.0.0.1"
# librdkafka reports refused connections while the broker boots; keep that off the terminal.
_probe_logger = logging.getLogger("hubsync.testing.kafka_probe")
_probe_logger.addHandler(logging.NullHandler())
_probe_logger.propagate = False
_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


#: a test broker's footprint: small segments and indexes keep the data dir small; a 16 MiB cleaner
#: buffer (not 128 MiB) keeps compaction within the modest heap; groups start at once
SMALL_BROKER: dict[str, str] = {
    "group.initial.rebalance.delay.ms": "0",
    "log.segment.bytes": str(8 * 1024 * 1024),
    "log.index.size.max.bytes": str(1024 * 1024),
    "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    "log.cleaner.threads": "1",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
}


def _cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64 without padding, not starting '-'."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded


class ApacheKafkaServer:
    """A throw-away Apache Kafka broker on loopback; ``with ApacheKafkaServer() as kafka: ...``.

    ``parent_dir`` is where the server's own temporary directory (config, data, logs) is created
    (default: the system temp dir); ``stop()`` removes that directory unless ``keep`` is set.
    ``properties`` override or extend the generated ``server.properties``.
    """

    def __init__(
        self,
        *,
        version: str = KAFKA_VERSION,
        parent_dir: Path | None = None,
        keep: bool = False,
        heap: str = "512m",
        start_timeout: float = 90.0,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        self.version = version
        self.parent_dir = parent_dir
        self.keep = keep
        self.heap = heap
        self.start_timeout = start_timeout
        self.properties = dict(properties or {})
        self.port: int | None = None
        self.controller_port: int | None = None
        self.work_dir: Path | None = None
        self._process: ProcessRef | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._pending_cds: tuple[Path, Path] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def fetch_jars(self) -> Path:
        """Download (once) and return the directory of this Kafka version's jars."""
        return fetch_jars(self.version)

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise KafkaServerError("the Kafka server is not started")
        return f"{_HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        if self.work_dir is None:
            raise KafkaServerError("the Kafka server is not started")
        return self.work_dir / "logs" / "server.log"

    def start(self) -> Self:
        """Format storage, launch the broker and wait until it answers metadata requests."""
        if self._process is not None:
            raise KafkaServerError("the Kafka server is already started")
        libs = self.fetch_jars()
        if self.parent_dir is not None:
            self.parent_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = Path(tempfile.mkdtemp(prefix="hubsync-kafka-", dir=self.parent_dir))

        def start_once() -> None:
            try:
                self._launch(libs)
                self._wait_until_ready()
            except KafkaServerError:
                self._kill()
                raise

        try:
            on_fresh_ports(start_once)
        except BaseException:
            self._remove_work_dir()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 30 s) and remove its directory."""
        if self._process is not None:
            clean = terminate(self._process, 30.0, self._popen)
            if self._pending_cds is not None:
                dumped, archive = self._pending_cds
                if clean and dumped.is_file():
                    dumped.replace(archive)  # atomic: concurrent JVMs see all of it or nothing
                dumped.unlink(missing_ok=True)
        self._process = self._popen = self._pending_cds = None
        self._remove_work_dir()

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- detached use ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-serialisable description of the running server, for :meth:`from_state`."""
        if self._process is None or self.work_dir is None:
            raise KafkaServerError("the Kafka server is not started")
        return {
            "version": self.version,
            "bootstrap_servers": self.bootstrap_servers,
            "port": self.port,
            "controller_port": self.controller_port,
            "pid": self._process.pid,
            "start_time": self._process.start_time,
            "work_dir": str(self.work_dir),
            "log_file": str(self.log_file),
            "keep": self.keep,
            "cds_dump": None if self._pending_cds is None else [str(p) for p in self._pending_cds],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ApacheKafkaServer:
        """A handle on a server started by another process, able to ``stop()`` it."""
        server = cls(version=str(state["version"]), keep=bool(state.get("keep", False)))
        server.port = int(state["port"])
        server.controller_port = int(state["controller_port"])
        server.work_dir = Path(state["work_dir"])
        start_time = state.get("start_time")
        server._process = ProcessRef(int(state["pid"]), None if start_time is None else int(start_time))
        if state.get("cds_dump"):
            dumped, archive = state["cds_dump"]
            server._pending_cds = (Path(dumped), Path(archive))
        return server

    # -- internals ---------------------------------------------------------------------------

    def _launch(self, libs: Path) -> None:
        assert self.work_dir is not None
        self.port, self.controller_port = free_port(_HOST), free_port(_HOST)
        data_dir, logs_dir = self.work_dir / "data", self.work_dir / "logs"
        shutil.rmtree(data_dir, ignore_errors=True)
        logs_dir.mkdir(exist_ok=True)
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in self._config(data_dir).items()))
        log4j = self.work_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file))
        log_opt = f"-Dlog4j2.configurationFile={log4j}"
        archive = cds_archive(libs)

        format_args = ["format", "--standalone", "-t", _cluster_id(), "-c", str(config), *self._format_args()]
        formatter = java_command(
            libs, "kafka.tools.StorageTool", format_args, jvm_args=[log_opt], cds=archive
        )
        try:
            result = subprocess.run(formatter, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as error:
            raise KafkaServerError("formatting Kafka storage took more than 120 s") from error
        if result.returncode != 0:
            raise KafkaServerError(
                f"formatting Kafka storage failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

        jvm_args = [log_opt, f"-Xms{self.heap}"]
        self._pending_cds = None
        if archive is not None and not archive.is_file():
            dump = archive.with_name(f"{archive.name}.{uuid.uuid4().hex}.tmp")
            jvm_args.append(f"-XX:ArchiveClassesAtExit={dump}")
            self._pending_cds = (dump, archive)
        command = java_command(
            libs, "kafka.Kafka", [str(config)], heap=self.heap, jvm_args=jvm_args, cds=archive
        )
        self._popen = spawn_in_session(command, log_file=logs_dir / "console.log", cwd=self.work_dir)
        self._process = ProcessRef.of(self._popen.pid)

    def _format_args(self) -> list[str]:
        """Extra ``kafka-storage format`` arguments (a subclass adds SCRAM users)."""
        return []

    def _config(self, data_dir: Path) -> dict[str, str]:
        listener = f"PLAINTEXT://{_HOST}:{self.port}"
        controller = f"{_HOST}:{self.controller_port}"
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"{listener},CONTROLLER://{controller}",
            "advertised.listeners": listener,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(data_dir),
            "auto.create.topics.enable": "true",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            **SMALL_BROKER,
            "num.io.threads": "4",
        }
        config.update(self.properties)
        return config

    def _wait_until_ready(self) -> None:
        assert self._popen is not None
        assert self.port is not None
        deadline = time.monotonic() + self.start_timeout
        admin: AdminClient | None = None
        while True:
            if self._popen.poll() is not None:
                raise KafkaServerError(
                    f"the Kafka broker exited with code {self._popen.returncode} while starting\n"
                    + self._log_tail()
                )
            if time.monotonic() >= deadline:
                raise KafkaServerError(
                    f"the Kafka broker did not answer within {self.start_timeout:.0f} s\n" + self._log_tail()
                )
            if admin is None and port_open(_HOST, self.port):
                probe: dict[str, str | int | float | bool] = {
                    "bootstrap.servers": self.bootstrap_servers,
                    "client.id": "hubsync-probe",
                }
                admin = AdminClient(probe, logger=_probe_logger)
            if admin is not None:
                try:
                    if admin.list_topics(timeout=2.0).brokers:
                        return
                except KafkaException:  # not ready yet (list_topics timed out)
                    continue
            time.sleep(0.1)

    def _log_tail(self) -> str:
        assert self.work_dir is not None
        return log_tail(self.work_dir / "logs" / "console.log", self.log_file)

    def _kill(self) -> None:
        if self._process is not None:
            terminate(self._process, 10.0, self._popen)
        if self._pending_cds is not None:
            self._pending_cds[0].unlink(missing_ok=True)
        self._process = self._popen = self._pending_cds = None

    def _remove_work_dir(self) -> None:
        if self.work_dir is not None and not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)
