"""Running PostgreSQL as an unprivileged account when hubsync itself runs as root.

PostgreSQL refuses to start as root (CI containers usually are root). In that case the server
runs as the system account ``hubsync``, created on first use with
``useradd --system --no-create-home``; its data directory and log file are handed over to it, and
every directory on the way to them (and to the PostgreSQL binaries) gets the search bit for
"others" when that account could not traverse it otherwise (e.g. ``/root`` or pytest's 0700 temp
directories). Nothing here happens for a normal user: the server then runs as that user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsync.devstack.errors import DevStackError

if sys.platform != "win32":
    import grp
    import pwd

SYSTEM_USER = "hubsync"


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS account the server runs as (only used when we are root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def subprocess_kwargs(self) -> dict[str, Any]:
        """Keyword arguments making :func:`subprocess.run` switch to this account."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def own(self, path: Path) -> None:
        """Give ``path`` (recursively) to this account unless it already owns it."""
        st = path.stat()
        if (st.st_uid, st.st_gid) == (self.uid, self.gid):
            return
        os.chown(path, self.uid, self.gid)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                for name in [*dirs, *files]:
                    os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def can_search(self, path: Path) -> bool:
        """True when this account may traverse directory ``path``."""
        st = path.stat()
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IXUSR)
        if st.st_gid == self.gid or st.st_gid in self.groups:
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)


def current() -> RunAs | None:
    """The account to run PostgreSQL as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    return ensure_system_user(SYSTEM_USER)


def ensure_system_user(name: str) -> RunAs:
    """Look up ``name``, creating it as a system account without home directory if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = _create_system_user(name)
    groups = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != entry.pw_gid)
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)


def _create_system_user(name: str) -> pwd.struct_passwd:
    """``useradd --system --no-create-home`` (with its own group and no login shell)."""
    useradd = shutil.which("useradd")
    if useradd is None:
        raise DevStackError(
            f"PostgreSQL cannot run as root and there is no {name!r} account to run it as "
            "(useradd not found); create one, or run `hubsync dev up` as a normal user"
        )
    nologin = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false")
    try:
        grp.getgrnam(name)
        group = ["--gid", name]  # left behind by an earlier account of that name
    except KeyError:
        group = ["--user-group"]
    args = [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin]
    proc = subprocess.run([*args, *group, name], capture_output=True, text=True, check=False)
    try:
        # Also covers exit 9 (name taken meanwhile, e.g. by a concurrent `hubsync dev up`).
        return pwd.getpwnam(name)
    except KeyError:
        raise DevStackError(
            f"could not create the {name!r} account (useradd exit {proc.returncode}): {proc.stderr.strip()}"
        ) from None


def grant_search(runas: RunAs, directories: Iterable[Path]) -> list[Path]:
    """Make ``directories`` and their ancestors traversable by ``runas``; return those changed."""
    changed: list[Path] = []
    for path in directories:
        resolved = path.resolve()
        for directory in [*reversed(resolved.parents), resolved]:
            if directory in changed or runas.can_search(directory):
                continue
            directory.chmod(directory.stat().st_mode | stat.S_IXOTH)
            changed.append(directory)
    return changed
