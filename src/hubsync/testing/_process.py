"""Process and filesystem helpers shared by the test-service launchers.

The servers are started in their own session so that they can outlive the Python process that
started them (the detached ``python -m hubsync.testing up`` mode). A later process then only
knows them by pid, so a :class:`ProcessRef` also records the process start time, which guards
against signalling an unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessRef", "cache_root", "free_port", "log_tail", "terminate"]

_PROC = Path("/proc")


def cache_root() -> Path:
    """``$HUBSYNC_CACHE_DIR`` or ``~/.cache/hubsync``: where downloaded test artefacts live."""
    configured = os.environ.get("HUBSYNC_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "hubsync"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.25) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(*paths: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of each existing file, labelled, for error messages."""
    chunks: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tail = "\n".join(text.splitlines()[-lines:])
        chunks.append(f"--- last {lines} lines of {path} ---\n{tail}")
    return "\n".join(chunks) if chunks else "(no log output)"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


@dataclass(frozen=True)
class ProcessRef:
    """A process identified by pid plus start time (clock ticks since boot, from /proc).

    ``start_time`` is None where /proc is unavailable; the pid alone is then trusted.
    """

    pid: int
    start_time: int | None

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        fields = _stat_fields(pid)
        return cls(pid, int(fields[19]) if fields else None)

    def is_running(self) -> bool:
        """True while the very process this refers to exists and is not a zombie."""
        fields = _stat_fields(self.pid)
        if fields is None:
            if _PROC.is_dir():
                return False
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        if self.start_time is not None and int(fields[19]) != self.start_time:
            return False  # the pid was reused by another process
        return fields[0] != "Z"

    def signal(self, signum: signal.Signals) -> None:
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float, popen: subprocess.Popen[bytes] | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the process to end; True if it did.

        Pass the ``Popen`` when the process is our child so that it gets reaped.
        """
        deadline = time.monotonic() + timeout
        if popen is not None:
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        while self.is_running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def terminate(ref: ProcessRef, timeout: float = 30.0, popen: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL. True if the process ended on SIGTERM."""
    if popen is not None and popen.poll() is not None:
        return True
    ref.signal(signal.SIGTERM)
    if ref.wait(timeout, popen):
        return True
    ref.signal(signal.SIGKILL)
    ref.wait(10.0, popen)
    return False
