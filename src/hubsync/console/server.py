"""Start and stop the console: its pool, HTTP client, templates and aiohttp site."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import httpx
import jinja2
from aiohttp import web

from hubsync.console.charts import sparkline
from hubsync.console.config import ConsoleConfig
from hubsync.console.overview import PROBE_TIMEOUT_S
from hubsync.console.routes import add_routes
from hubsync.console.sessions import SessionSigner
from hubsync.console.web import CONSOLE, Console, guard, harden
from hubsync.storage.pool import PoolConfig, open_pool

log = logging.getLogger(__name__)

#: the access log: no query strings' values beyond the path's filters, no cookies, no user agent
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'


def _when(value: Any) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC`` (datetimes, and ISO 8601 text from JSON rows)."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else "")
    return "-" if value is None else str(value)


def _shown(value: Any) -> str:
    """A stored value as text: JSON for objects and lists (no Python reprs on a page)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hubsync.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["shown"] = _shown
    env.filters["sparkline"] = sparkline
    # what base.html reads, for the pages shown before or without a session (sign-in, errors)
    env.globals.update(session=None, csrf="", nav=None, portals=[], current_portal=None, notice=None)
    return env


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[harden, guard], client_max_size=64 * 1024)
    app[CONSOLE] = console
    add_routes(app)
    static = resources.files("hubsync.console") / "static"
    app.router.add_static("/static/", str(static), append_version=False)
    return app


@dataclass(frozen=True, slots=True)
class RunningConsole:
    url: str
    app: web.Application


@contextlib.asynccontextmanager
async def console_site(
    config: ConsoleConfig, database_url: str, *, host: str, port: int
) -> AsyncIterator[RunningConsole]:
    """The console serving on ``host:port`` (0: a free port) until the block ends."""
    pool = open_pool(
        database_url,
        PoolConfig(min_size=1, max_size=4, timeout=10.0, max_waiting=64, application_name="hubsync-console"),
        name="hubsync-console",
    )
    http = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S)
    try:
        console = Console(
            config,
            SessionSigner(config.session_secret.get_secret_value(), config.session_ttl_s),
            pool,
            templates(),
            http,
        )
        app = build_app(console)
        runner = web.AppRunner(app, access_log_format=ACCESS_LOG_FORMAT)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server  # the bound socket, for port 0
        assert server is not None
        bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
        try:
            yield RunningConsole(f"http://{host}:{bound[1]}", app)
        finally:
            await runner.cleanup()
    finally:
        await http.aclose()
        pool.close()
