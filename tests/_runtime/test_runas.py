"""The unprivileged account PostgreSQL runs as when we are root."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from hubsync._runtime import runas
from hubsync._runtime.runas import RunAs, grant_search, unprivileged_user

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _stranger() -> RunAs:
    """An account that owns nothing here and is in none of its groups."""
    return RunAs(name="stranger", uid=os.getuid() + 54321, gid=os.getgid() + 54321, groups=())


def test_can_search_follows_the_permission_bits(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    owner = RunAs(name="me", uid=os.getuid(), gid=os.getgid(), groups=())
    assert owner.can_search(private)
    assert not _stranger().can_search(private)
    private.chmod(0o701)
    assert _stranger().can_search(private)


def test_grant_search_opens_the_way_and_only_where_needed(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    target.mkdir(parents=True)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        directory.chmod(0o700)
    (tmp_path / "a" / "b").chmod(0o711)  # already searchable by others
    stranger = _stranger()
    assert not stranger.can_reach(target)
    changed = grant_search(stranger, [target])
    assert tmp_path / "a" in changed
    assert target in changed
    assert tmp_path / "a" / "b" not in changed
    assert stranger.can_reach(target)
    assert target.stat().st_mode & 0o777 == 0o701
    assert grant_search(stranger, [target]) == []


def test_no_account_switch_for_a_normal_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runas.os, "geteuid", lambda: 1000)
    assert unprivileged_user() is None
    assert unprivileged_user(prefer=("postgres",)) is None


@as_root
def test_as_root_a_preferred_existing_account_is_used() -> None:
    existing = pwd.getpwuid(os.getuid() if os.getuid() else 1).pw_name  # e.g. daemon
    account = unprivileged_user(prefer=("no-such-account-hubsync", existing))
    assert account is not None
    assert account.name == existing
    assert account == RunAs.named(existing)
    assert account.subprocess_kwargs()["user"] == account.uid


@as_root
def test_as_root_the_system_account_is_created_when_missing() -> None:
    account = unprivileged_user(prefer=("no-such-account-hubsync",))
    assert account is not None
    assert account.name == runas.SYSTEM_USER
    assert pwd.getpwnam(runas.SYSTEM_USER).pw_uid == account.uid


@as_root
def test_own_hands_over_a_whole_tree(tmp_path: Path) -> None:
    nobody = RunAs.named("nobody")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    nobody.own(tree)
    for path in (tree, tree / "sub", tree / "sub" / "file"):
        assert (path.stat().st_uid, path.stat().st_gid) == (nobody.uid, nobody.gid)
