"""A console served in a background thread against a test database, and a signed-in client."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from hubsync.console.config import ConsoleConfig
from hubsync.console.server import console_site
from hubsync.console.users import save_user
from hubsync.settings import Settings
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate

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


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The console on a free loopback port until the block ends; yields its base URL."""
    config = ConsoleConfig.from_settings(settings)
    assert settings.database_url is not None
    url: list[str] = []
    started = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with console_site(
                config, settings.database_url.get_secret_value(), host="127.0.0.1", port=0
            ) as running:
                url.append(running.url)
                started.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


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
