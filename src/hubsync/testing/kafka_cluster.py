"""A real three-node Apache Kafka cluster for fault tests: KRaft, each node a broker and a controller
of a static three-voter quorum, replication factor 3 and ``min.insync.replicas=2`` by default.

A node can be killed (SIGKILL: no controlled shutdown) and started again on its own data, and
:meth:`KafkaCluster.active_controller` names the quorum's leader (read with Kafka's own
``kafka-metadata-quorum`` tool), so a test can move the controller by killing it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from hubsync._runtime.errors import log_tail
from hubsync._runtime.processes import ProcessRef, free_port, spawn_in_session
from hubsync.testing._kafka_jvm import (
    KAFKA_VERSION,
    KafkaServerError,
    fetch_jars,
    java_command,
    on_fresh_ports,
)
from hubsync.testing.kafka_server import _HOST, _LOG4J2, SMALL_BROKER, _cluster_id, _probe_logger

_LEADER = re.compile(r"^LeaderId:\s*(\d+)", re.MULTILINE)


@dataclass
class _Node:
    node_id: int
    port: int
    controller_port: int
    work_dir: Path
    popen: subprocess.Popen[bytes] | None = None
    process: ProcessRef | None = None

    @property
    def config(self) -> Path:
        return self.work_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "logs" / "server.log"


class KafkaCluster:
    """``with KafkaCluster() as cluster: cluster.bootstrap_servers``; :meth:`kill` and
    :meth:`start_node` take one node down and up."""

    def __init__(
        self,
        nodes: int = 3,
        *,
        version: str = KAFKA_VERSION,
        heap: str = "384m",
        start_timeout: float = 180.0,
        min_insync_replicas: int = 2,
        parent_dir: Path | None = None,
    ) -> None:
        self.size = nodes
        self.version = version
        self.heap = heap
        self.start_timeout = start_timeout
        self.min_insync_replicas = min_insync_replicas
        self.parent_dir = parent_dir
        self.work_dir: Path | None = None
        self.nodes: dict[int, _Node] = {}
        self._libs: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{_HOST}:{n.port}" for n in self.nodes.values())

    @property
    def controller_servers(self) -> str:
        return ",".join(f"{_HOST}:{n.controller_port}" for n in self.nodes.values())

    def _config(self, node: _Node) -> dict[str, str]:
        voters = ",".join(f"{n.node_id}@{_HOST}:{n.controller_port}" for n in self.nodes.values())
        replicas = str(self.size)
        listener = f"PLAINTEXT://{_HOST}:{node.port}"
        return {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"{listener},CONTROLLER://{_HOST}:{node.controller_port}",
            "advertised.listeners": listener,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(node.work_dir / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": str(self.min_insync_replicas),
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": str(self.min_insync_replicas),
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": str(self.min_insync_replicas),
            "share.coordinator.state.topic.num.partitions": "1",
            **SMALL_BROKER,
            # a killed node's replicas leave the ISR after 10 s, not 30 s
            "replica.lag.time.max.ms": "10000",
        }

    def start(self) -> Self:
        """Format every node's storage, start them all, wait until every broker is registered."""
        self._libs = fetch_jars(self.version)
        return on_fresh_ports(self._start_once)

    def _start_once(self) -> Self:
        self.nodes = {}
        self.work_dir = Path(tempfile.mkdtemp(prefix="hubsync-kafka-cluster-", dir=self.parent_dir))
        try:
            for node_id in range(1, self.size + 1):
                work = self.work_dir / f"node{node_id}"
                (work / "logs").mkdir(parents=True)
                self.nodes[node_id] = _Node(node_id, free_port(_HOST), free_port(_HOST), work)
            cluster_id = _cluster_id()
            for node in self.nodes.values():
                props = self._config(node)
                node.config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
                (node.work_dir / "log4j2.properties").write_text(_LOG4J2.format(log_file=node.log_file))
                self._java(
                    "kafka.tools.StorageTool", ["format", "-t", cluster_id, "-c", str(node.config)], node
                )
            for node_id in self.nodes:
                self.start_node(node_id, wait=False)
            self.wait_for_brokers(self.size)
        except BaseException:
            self.stop()
            raise
        return self

    def _log_opt(self, node: _Node) -> str:
        return f"-Dlog4j2.configurationFile={node.work_dir / 'log4j2.properties'}"

    def _java(self, main: str, args: list[str], node: _Node, timeout: float = 120.0) -> str:
        assert self._libs is not None
        command = java_command(self._libs, main, args, jvm_args=[self._log_opt(node)])
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            raise KafkaServerError(f"{main} {' '.join(args)} took more than {timeout:.0f} s") from error
        if result.returncode != 0:
            raise KafkaServerError(f"{main} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start_node(self, node_id: int, *, wait: bool = True) -> None:
        """Start node ``node_id`` on its data (after :meth:`kill`); ``wait``: until it is registered."""
        node = self.nodes[node_id]
        if node.process is not None and node.process.is_running():
            raise KafkaServerError(f"node {node_id} is running")
        assert self._libs is not None
        command = java_command(
            self._libs,
            "kafka.Kafka",
            [str(node.config)],
            heap=self.heap,
            jvm_args=[self._log_opt(node), f"-Xms{self.heap}"],
        )
        node.popen = spawn_in_session(
            command, log_file=node.work_dir / "logs" / "console.log", cwd=node.work_dir
        )
        node.process = ProcessRef.of(node.popen.pid)
        if wait:
            self.wait_for_brokers(len(self.running()))

    def kill(self, node_id: int) -> None:
        """SIGKILL node ``node_id`` (no controlled shutdown: its leaderships move when it is missed)."""
        node = self.nodes[node_id]
        if node.popen is not None:
            node.popen.kill()
            node.popen.wait(timeout=30)
        node.popen = node.process = None

    def running(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.popen is not None and n.popen.poll() is None]

    def wait_for_brokers(self, count: int) -> None:
        """Wait until ``count`` brokers are registered in the cluster's metadata."""
        deadline = time.monotonic() + self.start_timeout
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers}, logger=_probe_logger)
        while True:
            for node_id, node in self.nodes.items():
                if node.popen is not None and node.popen.poll() is not None:
                    raise KafkaServerError(
                        f"Kafka node {node_id} exited with code {node.popen.returncode}\n"
                        + log_tail(node.work_dir / "logs" / "console.log", node.log_file)
                    )
            try:
                if len(admin.list_topics(timeout=2.0).brokers) >= count:
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise KafkaServerError(
                    f"fewer than {count} Kafka brokers registered within {self.start_timeout:.0f} s"
                )
            time.sleep(0.2)

    def active_controller(self, attempts: int = 4) -> int:
        """The node id of the KRaft quorum's leader (the active controller). Right after a leader
        dies the tool can wait on it; each try is bounded and tried again while the quorum elects."""
        assert self.work_dir is not None
        tool_config = self.work_dir / "quorum-tool.properties"
        tool_config.write_text("request.timeout.ms=5000\ndefault.api.timeout.ms=15000\n")
        last: Exception | None = None
        for _ in range(attempts):
            running = [self.nodes[i] for i in self.running()]
            # a dead controller in the list stalls the tool
            controllers = ",".join(f"{_HOST}:{n.controller_port}" for n in running)
            args = ["--bootstrap-controller", controllers, "--command-config", str(tool_config)]
            try:
                out = self._java(
                    "org.apache.kafka.tools.MetadataQuorumCommand",
                    [*args, "describe", "--status"],
                    running[0],
                    timeout=45.0,
                )
            except KafkaServerError as error:
                last = error
                time.sleep(1.0)
                continue
            match = _LEADER.search(out)
            if match is not None and int(match.group(1)) in self.running():
                return int(match.group(1))
            last = KafkaServerError(f"no live LeaderId in kafka-metadata-quorum's answer:\n{out}")
            time.sleep(1.0)
        raise KafkaServerError(f"the active controller could not be read in {attempts} tries: {last}")

    def stop(self) -> None:
        """Kill every node (a throw-away cluster: a controlled shutdown of the last nodes waits for
        a quorum that has gone) and remove the cluster's directory."""
        for node_id in self.nodes:
            self.kill(node_id)
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
