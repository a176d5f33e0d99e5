"""Daemons that outlive the process that started them, and the helpers to find and stop them (POSIX).

A service is often stopped by a *different* process than the one that started it (``hubsync dev
down``, ``python -m hubsync.testing down``), which only knows it by pid. A :class:`ProcessRef`
therefore records the pid together with the process start time where ``/proc`` provides it, so
that a pid reused by an unrelated process after the service died is never taken for it or
signalled. Zombies (dead, only awaiting reaping by their parent) count as not running.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubsync._runtime.errors import ServiceError

__all__ = [
    "LOOPBACK",
    "ProcessRef",
    "free_port",
    "parse_proc_stat",
    "pid_alive",
    "port_is_free",
    "port_open",
    "spawn_detached",
    "spawn_in_session",
    "terminate",
    "wait_until",
]

LOOPBACK = "127.0.0.1"
_PROC = Path("/proc")
_HAVE_PROC = (_PROC / "self" / "stat").is_file()

# Run with ``python -I -c``: opens the log, starts the daemon in its own session, prints its pid and
# exits at once. The daemon is thereby orphaned (re-parented to init), so it outlives the caller and
# is reaped by init rather than lingering as the caller's zombie once it is stopped.
_LAUNCHER = """\
import os, subprocess, sys
log, cwd, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(log, "ab", buffering=0) as out:
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
sys.stdout.write(str(proc.pid))
sys.stdout.flush()
os._exit(0)
"""


def parse_proc_stat(raw: str) -> tuple[str, list[str]]:
    """``(command, the fields from the state on)`` of a ``/proc/<pid>/stat`` line."""
    # The command name is in parentheses and may itself contain spaces or parentheses.
    head, tail = raw.rsplit(")", 1)
    return head.split("(", 1)[1], tail.split()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` from the state on, or None without such a process (or /proc)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return parse_proc_stat(raw)[1]


def _ps(pid: int, field: str) -> str:
    """One ``ps`` column for ``pid`` ("" when there is no such process): where /proc is missing."""
    out = subprocess.run(
        ["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


@dataclass(frozen=True)
class ProcessRef:
    """A process identified by pid plus start time (clock ticks since boot, from /proc).

    ``start_time`` is None where /proc is unavailable or the start time was not recorded; the pid
    alone is then trusted (callers may add a check on :meth:`command`).
    """

    pid: int
    start_time: int | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """A reference to the process that has ``pid`` now."""
        fields = _stat_fields(pid)
        return cls(pid, int(fields[19]) if fields else None)

    def is_running(self) -> bool:
        """True while the very process this refers to exists and is not a zombie."""
        if self.pid <= 0:
            return False
        fields = _stat_fields(self.pid)
        if fields is not None:
            if self.start_time is not None and int(fields[19]) != self.start_time:
                return False  # the pid was reused by another process
            return fields[0] != "Z"
        if _HAVE_PROC:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
        return not _ps(self.pid, "stat").startswith("Z")

    def command(self) -> str:
        """The command line ("" when it cannot be read)."""
        if not _HAVE_PROC:
            return _ps(self.pid, "command")
        try:
            raw = (_PROC / str(self.pid) / "cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` unless the process is gone (or its pid now names another one)."""
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float, popen: subprocess.Popen[bytes] | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the process to end; True if it did.

        Pass the ``Popen`` when the process is our child, so that it gets reaped.
        """
        if popen is not None:
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        return wait_until(lambda: not self.is_running(), timeout=timeout, interval=0.05)


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a live process (no start-time check: see :class:`ProcessRef`)."""
    return pid is not None and ProcessRef(pid).is_running()


def terminate(ref: ProcessRef, timeout: float = 30.0, popen: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; True if the process ended on SIGTERM.

    Raises :class:`ServiceError` if the process still runs 10 s after SIGKILL.
    """
    if popen is not None and popen.poll() is not None:
        return True
    ref.signal(signal.SIGTERM)
    if ref.wait(timeout, popen):
        return True
    ref.signal(signal.SIGKILL)
    if not ref.wait(10.0, popen):
        raise ServiceError(f"process {ref.pid} did not exit after SIGKILL")
    return False


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def spawn_in_session(
    argv: Sequence[str], *, log_file: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as our child in a session of its own, output appended to ``log_file``.

    Its own session keeps Ctrl-C meant for us away from it. It stays our child (so its exit code
    can be read while it starts); should we exit first, it is orphaned and keeps running.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def spawn_detached(argv: Sequence[str], *, log_file: Path, cwd: Path, env: Mapping[str, str]) -> ProcessRef:
    """Start ``argv`` as a daemon in its own session, output appended to ``log_file``.

    Unlike :func:`spawn_in_session` the daemon is never our child (see ``_LAUNCHER``), so a
    long-lived caller does not collect zombies of the daemons it starts and stops.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", _LAUNCHER, str(log_file), str(cwd), *argv],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"timed out launching {argv[0]}") from exc
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServiceError(f"could not launch {argv[0]}: {detail}")
    return ProcessRef.of(int(result.stdout.strip()))


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` (a listener on 0.0.0.0 counts).

    SO_REUSEADDR, as servers set it, so that connections of a just-stopped server still in
    TIME_WAIT do not make its port look taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=256)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel picks it), never one of the
    last 256 this process handed out: a caller taking several ports before binding any (a Kafka
    cluster's listeners) gets distinct ones."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (cheap check before a protocol probe)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
