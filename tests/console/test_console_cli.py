"""``hubsync console users`` and ``hubsync console serve`` as an operator runs them: hashes stored,
never passwords; bad names, roles and passwords refused with exit code 2 and nothing stored; the
console refuses to start (exit code 3) until it is configured."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.console.users import authenticate
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def db(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    return fresh_database_url


def _invoke(db: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": db}, input=stdin)
    return result.exit_code, result.output


def test_users_are_added_listed_changed_and_removed_with_hashes_only(db: str) -> None:
    code, out = _invoke(
        db,
        "console",
        "users",
        "add",
        "ada",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert code == 0 and "console user ada saved (admin)" in out
    with psycopg.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM hubsync.console_users").fetchone() or ("",)
        assert stored.startswith("$argon2id$") and "a long enough password" not in stored
        assert authenticate(conn, "ada", "a long enough password") == "admin"
        assert authenticate(conn, "ada", "a wrong password!!") is None
    # the prompt asks twice
    code, out = _invoke(db, "console", "users", "add", "vic", stdin="viewer-password-1\nviewer-password-1\n")
    assert code == 0 and "(viewer)" in out
    code, out = _invoke(db, "console", "users", "add", "eve", stdin="viewer-password-1\nanother-password\n")
    assert code == 2 and "the passwords differ" in out
    code, out = _invoke(db, "console", "users", "list", "--json")
    assert code == 0 and '"username": "ada"' in out and '"username": "vic"' in out and "eve" not in out
    # a new password and role replace the old ones
    _invoke(
        db,
        "console",
        "users",
        "add",
        "ada",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="a new long password\n",
    )
    with psycopg.connect(db) as conn:
        assert authenticate(conn, "ada", "a long enough password") is None
        assert authenticate(conn, "ada", "a new long password") == "viewer"
    assert _invoke(db, "console", "users", "remove", "vic")[0] == 0
    code, out = _invoke(db, "console", "users", "remove", "vic")
    assert code == 1 and "no console user" in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("bad name",), "a long enough password\n", "a user name is 1-64 letters"),
        (("ok", "--role", "root"), "a long enough password\n", "a role is viewer or admin"),
        (("ok",), "short\n", "a password holds 12 to 1024 characters"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_stored(
    db: str, args: tuple[str, ...], stdin: str, message: str
) -> None:
    code, out = _invoke(db, "console", "users", "add", *args, "--password-stdin", stdin=stdin)
    assert code == 2 and message in out
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM hubsync.console_users").fetchone() == (0,)


def test_serve_refuses_to_start_until_configured(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from hubsync.cli import main

    for env, message in (
        ({}, "the console is off: set HUBSYNC_CONSOLE_AUTH"),
        (
            {"HUBSYNC_CONSOLE_AUTH": "password", "HUBSYNC_CONSOLE_SESSION_SECRET": "too-short"},
            "at least 32 characters",
        ),
        ({"HUBSYNC_CONSOLE_AUTH": "sso"}, "invalid setting console_auth"),
    ):
        for key in ("HUBSYNC_CONSOLE_AUTH", "HUBSYNC_CONSOLE_SESSION_SECRET"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("DATABASE_URL", db)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["hubsync", "console", "serve", "--port", "0"])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 3, env
        assert message in " ".join(capsys.readouterr().err.split()), env
