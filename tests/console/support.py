"""A console served in a background thread against a test database, and a signed-in client."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from hubsync.console.users import save_user
from hubsync.settings import Settings
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.testing.console import serving_console as serving  # noqa: F401 - the tests' name for it

SECRET = "test-console-session-secret-0123456789abcdef"
ADMIN = ("ada", "admin-password-1234")
VIEWER = ("vic", "viewer-password-1234")


def prepare_database(database_url: str) -> None:
    """Migrate and seed, with an admin and a viewer."""
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        seed_defaults(conn, load_defaults())
        save_user(conn, ADMIN[0], ADMIN[1], "admin")
        save_user(conn, VIEWER[0], VIEWER[1], "viewer")


def console_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": SecretStr(database_url),
        "console_auth": "password",
        "console_session_secret": SecretStr(SECRET),
        "console_secure_cookies": False,  # httpx sends Secure cookies over https only
        **overrides,
    }
    return Settings(**values)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(base_url: str, user: tuple[str, str] = ADMIN) -> httpx.Client:
    """A client signed in as ``user`` (it follows no redirects: tests look at them)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    page = client.get("/login")
    token = _TOKEN.search(page.text)
    assert token, page.text
    answer = client.post("/login", data={"token": token.group(1), "username": user[0], "password": user[1]})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return client


def post_form(client: httpx.Client, path: str, data: dict[str, str], page: str = "/") -> httpx.Response:
    """Post a form the way the page would: with the CSRF token the page carries."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf": token, **data})
