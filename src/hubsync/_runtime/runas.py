"""Running PostgreSQL as an unprivileged OS account when hubsync itself runs as root.

PostgreSQL refuses to start as root (CI containers usually are root). In that case the server
runs as a system account (``hubsync`` by default, created on first use with
``useradd --system --no-create-home``) to which its directories are handed over. Directories on
the way to them must be searchable by that account: :func:`grant_search` adds the search bit for
"others" where needed (the dev stack's policy), :meth:`RunAs.can_reach` lets a caller pick another
place instead (the test servers' policy). Nothing here is used for a normal user: the server then
runs as that user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsync._runtime.errors import ServiceError

if sys.platform != "win32":
    import grp
    import pwd

__all__ = ["SYSTEM_USER", "RunAs", "ensure_system_user", "grant_search", "unprivileged_user"]

SYSTEM_USER = "hubsync"


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS account a server runs as (only used when we are root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def named(cls, name: str) -> RunAs:
        """The existing account ``name`` (``KeyError`` if there is none)."""
        entry = pwd.getpwnam(name)
        groups = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != entry.pw_gid)
        return cls(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)

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

    def can_reach(self, path: Path) -> bool:
        """True when this account may traverse ``path`` and every directory above it."""
        resolved = path.resolve()
        return all(self.can_search(directory) for directory in (resolved, *resolved.parents))


def unprivileged_user(prefer: Sequence[str] = (), create: str = SYSTEM_USER) -> RunAs | None:
    """The account to run PostgreSQL as: ``None`` (ourselves) unless we are root.

    As root: the first existing account of ``prefer``, else ``create`` (created if missing).
    """
    if os.geteuid() != 0:
        return None
    for name in prefer:
        try:
            return RunAs.named(name)
        except KeyError:
            continue
    return ensure_system_user(create)


def ensure_system_user(name: str) -> RunAs:
    """Look up ``name``, creating it as a system account without home directory if missing."""
    try:
        return RunAs.named(name)
    except KeyError:
        _create_system_user(name)
        return RunAs.named(name)


def _create_system_user(name: str) -> None:
    """``useradd --system --no-create-home`` (with its own group and no login shell)."""
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceError(
            f"PostgreSQL cannot run as root and there is no {name!r} account to run it as "
            "(useradd not found); create one, or run as a normal user"
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
        # Also covers exit 9 (name taken meanwhile, e.g. by a concurrent process).
        pwd.getpwnam(name)
    except KeyError:
        raise ServiceError(
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
