"""Process and port helpers shared by the dev-stack components (POSIX only).

The dev stack launches long-lived daemons that must outlive the ``hubsync`` process that
started them, and later stops them from a *different* process that only knows their pid.
Everything here therefore works from pids and files, never from ``Popen`` handles.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hubsync.devstack.errors import DevStackError

LOOPBACK = "127.0.0.1"
_HAVE_PROC = sys.platform.startswith("linux")

# Started with ``python -I -c``: opens the log, starts the daemon in its own session, prints its pid and
# exits at once. The daemon is thereby orphaned (re-parented to init), so it outlives us and is reaped by
# init rather than lingering as our zombie after ``down()`` kills it.
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


def spawn_detached(argv: Sequence[str], *, log_file: Path, cwd: Path, env: Mapping[str, str]) -> int:
    """Start ``argv`` as a daemon in its own session, output appended to ``log_file``; return its pid."""
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
        raise DevStackError(f"timed out launching {argv[0]}") from exc
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevStackError(f"could not launch {argv[0]}: {detail}")
    return int(result.stdout.strip())


def _proc_state(pid: int) -> str | None:
    """The one-letter process state (``R``, ``S``, ``Z``...) or ``None`` when unknown/gone."""
    if _HAVE_PROC:
        try:
            # The command name may contain spaces or parentheses: the state follows the last ")".
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return out.stdout.strip()[:1] or None


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a live process (zombies, which only await reaping, count as dead)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    return _proc_state(pid) != "Z"


def process_command(pid: int) -> str:
    """The command line of ``pid`` ("" when it cannot be read); used to avoid signalling a reused pid."""
    if _HAVE_PROC:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()
    out = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def terminate(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM ``pid``, then SIGKILL if it is still alive after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not pid_alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_until(lambda: not pid_alive(pid), timeout=wait, interval=0.05):
            return
    raise DevStackError(f"process {pid} did not exit after SIGKILL")


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


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


def free_port(host: str = LOOPBACK) -> int:
    """An ephemeral port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def choose_port(requested: int | None, default: int, component: str) -> int:
    """``requested`` if free (error otherwise); else ``default`` if free; else any free port."""
    if requested is not None:
        if not port_is_free(requested):
            raise DevStackError(f"{component}: port {requested} on {LOOPBACK} is already in use")
        return requested
    return default if port_is_free(default) else free_port()


def tcp_answers(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` succeeds (cheap pre-check before a protocol probe)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of ``path`` ("" when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
