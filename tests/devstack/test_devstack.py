"""The embedded dev stack, for real: Tansu broker + PostgreSQL started, used, stopped, restarted.

The module shares one stack (``stack`` fixture) and its tests run in file order; the last one
stops and restarts it. Every fixture stops what it started, so no process outlives the tests.
The tests that start a stack are marked ``integration``. How long ``up`` takes is measured by
``python -m bench.startup``, not here.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

import hubsync
from hubsync._runtime.processes import ProcessRef, pid_alive
from hubsync.cli import app
from hubsync.devstack import DevStackError, DevStackState, down, status, tansu, up
from hubsync.devstack import postgres as pg
from hubsync.settings import DEV_STATE_FILE, load_settings
from hubsync.testing import wait_for

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dev_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("devstack") / "dev"
    try:
        yield path
    finally:
        down(path)


@pytest.fixture(scope="module")
def stack(dev_dir: Path) -> DevStackState:
    return up(dev_dir, kafka_port=_free_port(), pg_port=_free_port(), progress=print)


@pytest.mark.integration
def test_up_returns_the_running_stack(stack: DevStackState, dev_dir: Path) -> None:
    assert stack.dev_dir == dev_dir.resolve()
    assert stack.kafka_bootstrap_servers == f"127.0.0.1:{stack.kafka_port}"
    assert stack.database_url == f"postgresql://hubsync@127.0.0.1:{stack.postgres_port}/hubsync"
    assert pid_alive(stack.kafka_pid)
    assert pid_alive(stack.postgres_pid)
    assert (dev_dir / "postgres" / "PG_VERSION").is_file()
    assert (dev_dir / "logs" / "tansu.log").is_file()
    assert (dev_dir / "logs" / "postgres.log").is_file()


@pytest.mark.integration
def test_kafka_produce_consume_round_trip(stack: DevStackState) -> None:
    servers = stack.kafka_bootstrap_servers
    topic = f"devstack-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)

    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer({"bootstrap.servers": servers})
    producer.produce(topic, key=b"contact-1", value=b"hello dev stack", on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert errors == []

    # assign() rather than subscribe(): no consumer-group join, which is slow on Tansu.
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "devstack-test", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])

        def consumed() -> Message | None:
            msg = consumer.poll(1.0)
            return msg if msg is not None and msg.error() is None else None

        received = wait_for(consumed, timeout=30, interval=0, what=f"a record on {topic}")
    finally:
        consumer.close()
    assert (received.key(), received.value()) == (b"contact-1", b"hello dev stack")


@pytest.mark.integration
def test_postgres_accepts_queries(stack: DevStackState) -> None:
    with psycopg.connect(stack.database_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_database(), current_user, version()").fetchone()
    assert row is not None
    assert row[:2] == ("hubsync", "hubsync")
    assert str(row[2]).startswith("PostgreSQL")


@pytest.mark.integration
def test_up_again_is_idempotent(stack: DevStackState, dev_dir: Path) -> None:
    assert up(dev_dir) == stack
    assert up(dev_dir, kafka_port=stack.kafka_port, pg_port=stack.postgres_port) == stack
    with pytest.raises(DevStackError, match="already runs on port"):
        up(dev_dir, kafka_port=_free_port())


@pytest.mark.integration
def test_status_reports_running(stack: DevStackState, dev_dir: Path) -> None:
    result = status(dev_dir)
    assert result.running
    assert (result.kafka.pid, result.kafka.address) == (stack.kafka_pid, stack.kafka_bootstrap_servers)
    assert (result.postgres.pid, result.postgres.address) == (stack.postgres_pid, stack.database_url)


@pytest.mark.integration
def test_state_file_feeds_the_settings(
    stack: DevStackState, dev_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads((dev_dir / DEV_STATE_FILE).read_text())
    assert data["kafka_bootstrap_servers"] == stack.kafka_bootstrap_servers
    assert data["database_url"] == stack.database_url
    assert {"kafka_pid", "postgres_pid", "kafka_port", "postgres_port", "started_at"} <= data.keys()

    for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "HUBSYNC_CONFIG_FILE", "HUBSYNC_DEV_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(dev_dir=dev_dir)
    assert settings.kafka_bootstrap_servers == stack.kafka_bootstrap_servers
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == stack.database_url


@pytest.mark.integration
def test_cli_up_prints_only_exports_and_status_json(stack: DevStackState, dev_dir: Path) -> None:
    result = runner.invoke(app, ["dev", "up", "--dir", str(dev_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"export KAFKA_BOOTSTRAP_SERVERS={stack.kafka_bootstrap_servers}",
        f"export DATABASE_URL={stack.database_url}",
    ]
    assert "already running" in result.stderr

    result = runner.invoke(app, ["dev", "status", "--dir", str(dev_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["running"] is True
    assert {c["pid"] for c in report["components"]} == {stack.kafka_pid, stack.postgres_pid}

    result = runner.invoke(app, ["dev", "status", "--dir", str(dev_dir)])
    assert result.exit_code == 0, result.output
    assert "running" in result.stdout


@pytest.mark.integration
def test_down_stops_everything_and_up_keeps_postgres_data(stack: DevStackState, dev_dir: Path) -> None:
    table = f"kept_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 'survivor')")

    down(dev_dir)
    assert not pid_alive(stack.kafka_pid)
    assert not pid_alive(stack.postgres_pid)
    assert not (dev_dir / DEV_STATE_FILE).exists()
    after = status(dev_dir)
    assert not after.running
    assert not after.kafka.running
    assert not after.postgres.running
    assert runner.invoke(app, ["dev", "status", "--dir", str(dev_dir)]).exit_code == 1
    down(dev_dir)  # stopping a stopped stack is fine

    restarted = up(dev_dir)  # no ports given: the ones used last time are reused
    assert (restarted.kafka_port, restarted.postgres_port) == (stack.kafka_port, stack.postgres_port)
    assert restarted.kafka_pid != stack.kafka_pid
    with psycopg.connect(restarted.database_url) as conn:
        assert conn.execute(f"SELECT name FROM {table} WHERE id = 1").fetchone() == ("survivor",)


@pytest.fixture
def other_dev_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "dev"
    try:
        yield path
    finally:
        down(path)


def _hubsync_env(**extra: str) -> dict[str, str]:
    """Environment for ``python -m hubsync`` subprocesses, finding this checkout's package."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    src = str(Path(hubsync.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return {**env, **extra}


@pytest.mark.integration
def test_shell_eval_of_cli_up_in_a_subprocess(other_dev_dir: Path) -> None:
    """``eval "$(hubsync dev up)"``: the stack outlives the CLI process and the variables are set."""
    kafka_port, pg_port = _free_port(), _free_port()
    hubsync_cmd = f"{shlex.quote(sys.executable)} -m hubsync"
    script = (
        f'eval "$({hubsync_cmd} dev up --kafka-port {kafka_port} --pg-port {pg_port})" && '
        'printf "%s\\n%s\\n" "$KAFKA_BOOTSTRAP_SERVERS" "$DATABASE_URL"'
    )
    env = _hubsync_env(HUBSYNC_DEV_DIR=str(other_dev_dir))
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"127.0.0.1:{kafka_port}",
        f"postgresql://hubsync@127.0.0.1:{pg_port}/hubsync",
    ]
    assert "dev stack ready" in proc.stderr

    # The CLI process is gone; the stack it started still answers.
    assert status(other_dev_dir).running
    check = [sys.executable, "-m", "hubsync", "dev", "status"]
    assert subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0
    stop = subprocess.run([*check[:-1], "down"], env=env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 1


@pytest.mark.integration
def test_failed_broker_start_reports_its_log_and_leaves_nothing_running(
    other_dev_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken-tansu"
    broken.write_text("#!/bin/sh\necho 'boom: tansu cannot start' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(broken))

    with pytest.raises(DevStackError, match="boom: tansu cannot start") as excinfo:
        up(other_dev_dir, kafka_port=_free_port(), pg_port=_free_port())
    assert "tansu.log" in str(excinfo.value)
    assert pg.read_postmaster(other_dev_dir) is None
    assert tansu.read_pid(other_dev_dir) is None
    assert not (other_dev_dir / DEV_STATE_FILE).exists()


def test_requested_port_in_use_is_an_error(other_dev_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(DevStackError, match="already in use"):
            up(other_dev_dir, kafka_port=busy.getsockname()[1], pg_port=_free_port())
    assert tansu.read_pid(other_dev_dir) is None


def test_down_without_a_stack_is_a_no_op(tmp_path: Path) -> None:
    down(tmp_path / "never-started")
    (tmp_path / "empty").mkdir()
    down(tmp_path / "empty")
    assert not status(tmp_path / "empty").running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="start times come from /proc")
def test_a_reused_broker_pid_is_neither_reported_nor_signalled(tmp_path: Path) -> None:
    """``tansu.pid`` records the start time: a process that got the pid later is not the broker."""
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "tansu"])
    try:
        # Popen may return while execve still sets up the new command line (read empty meanwhile).
        wait_for(
            lambda: "tansu" in ProcessRef(impostor.pid).command(),
            timeout=10,
            what="the impostor's command line",
        )
        start_time = ProcessRef.of(impostor.pid).start_time
        assert start_time is not None
        pid_file = tmp_path / tansu.PID_FILE
        pid_file.write_text(f"{impostor.pid} {start_time}\n")
        assert tansu.is_tansu(tmp_path, impostor.pid)
        pid_file.write_text(f"{impostor.pid}\n")  # written by an older hubsync: the pid alone
        assert tansu.is_tansu(tmp_path, impostor.pid)
        pid_file.write_text(f"{impostor.pid} {start_time - 1}\n")
        assert not tansu.is_tansu(tmp_path, impostor.pid)
        tansu.stop(tmp_path, impostor.pid)
        assert impostor.poll() is None, "a reused pid must not be signalled"
        assert not pid_file.exists()
    finally:
        impostor.kill()
        impostor.wait(10)
