"""Pid liveness with pid-reuse protection, termination, spawning, ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubsync._runtime.errors import ServiceError
from hubsync._runtime.processes import (
    ProcessRef,
    free_port,
    parse_proc_stat,
    pid_alive,
    port_is_free,
    port_open,
    spawn_detached,
    spawn_in_session,
    terminate,
    wait_until,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="start times come from /proc")
# Ignores SIGTERM, says so (so the test knows the handler is installed), then sleeps.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def test_a_stat_line_splits_around_a_command_holding_spaces_and_parentheses() -> None:
    raw = "4242 (post (gres) x) S 1 4242 4242 0 -1 4194560 10 0 0 0 7 3 5 2\n"
    command, fields = parse_proc_stat(raw)
    assert command == "post (gres) x"
    assert fields[:2] == ["S", "1"]
    assert (fields[11], fields[12], fields[13], fields[14]) == ("7", "3", "5", "2")


def test_a_running_process_is_running() -> None:
    me = ProcessRef.of(os.getpid())
    assert me.is_running()
    assert pid_alive(os.getpid())
    assert "python" in me.command().lower() or "pytest" in me.command()


@linux_only
def test_a_reused_pid_is_not_taken_for_the_recorded_process() -> None:
    me = ProcessRef.of(os.getpid())
    assert me.start_time is not None
    assert not ProcessRef(os.getpid(), me.start_time + 1).is_running()


def test_zombies_and_missing_pids_are_not_running() -> None:
    child = subprocess.Popen(["sleep", "30"])
    ref = ProcessRef.of(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    assert wait_until(lambda: not ref.is_running(), timeout=5), "a zombie counts as not running"
    assert child.wait(5) == -signal.SIGKILL  # reaped only now
    assert not ref.is_running()
    assert not pid_alive(None)
    assert not pid_alive(0)
    assert ref.command() == ""


def test_terminate_uses_sigterm_first() -> None:
    child = subprocess.Popen(["sleep", "30"])
    assert terminate(ProcessRef.of(child.pid), timeout=5, popen=child) is True
    assert child.returncode == -signal.SIGTERM


def test_terminate_falls_back_to_sigkill() -> None:
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    ref = ProcessRef.of(child.pid)
    started = time.monotonic()
    assert terminate(ref, timeout=0.5) is False  # no Popen: waits via /proc, like a later process would
    assert time.monotonic() - started >= 0.5  # SIGTERM had its time before the SIGKILL
    assert not ref.is_running()
    assert child.wait(5) == -signal.SIGKILL
    child.stdout.close()


def test_terminate_of_a_finished_process_is_a_no_op() -> None:
    child = subprocess.Popen(["true"])
    child.wait(5)
    assert terminate(ProcessRef(child.pid), timeout=1, popen=child) is True
    assert terminate(ProcessRef(child.pid), timeout=1) is True


def test_spawn_detached_starts_a_daemon_that_is_not_our_child(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "daemon.log"
    script = "import os, time; print('daemon up', flush=True); time.sleep(60)"
    ref = spawn_detached([sys.executable, "-c", script], log_file=log, cwd=tmp_path, env=dict(os.environ))
    try:
        assert ref.is_running()
        assert wait_until(lambda: "daemon up" in log.read_text(), timeout=10)
        assert os.getsid(ref.pid) == ref.pid  # a session of its own
        with pytest.raises(ChildProcessError):
            os.waitpid(ref.pid, os.WNOHANG)  # orphaned: not ours to reap
    finally:
        terminate(ref, timeout=5)
    assert not ref.is_running()


def test_spawn_detached_reports_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="could not launch /nonexistent/daemon"):
        spawn_detached(["/nonexistent/daemon"], log_file=tmp_path / "x.log", cwd=tmp_path, env={})


def test_spawn_in_session_keeps_the_child_and_its_exit_code(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("earlier run\n")
    child = spawn_in_session([sys.executable, "-c", "import os; print(os.getsid(0)); raise SystemExit(3)"],
                             log_file=log, cwd=tmp_path)  # fmt: skip
    assert child.wait(10) == 3
    earlier, sid = log.read_text().splitlines()
    assert (earlier, int(sid)) == ("earlier run", child.pid)  # appended; own session


def test_ports() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
        assert port_open("127.0.0.1", port)
    assert port_is_free(port)
    assert not port_open("127.0.0.1", port)
    assert port_is_free(free_port())


def test_wait_until() -> None:
    assert wait_until(lambda: True, timeout=0)
    started = time.monotonic()
    assert not wait_until(lambda: False, timeout=0.2, interval=0.05)
    assert time.monotonic() - started >= 0.2  # gave up only once the timeout had passed


def test_free_port_never_hands_out_a_recent_port_twice() -> None:
    # the kernel can hand the same free port to two binds in a row; callers that pick several
    # before binding any (a Kafka cluster's six listeners) need them distinct
    ports = [free_port() for _ in range(256)]
    assert len(set(ports)) == len(ports)
