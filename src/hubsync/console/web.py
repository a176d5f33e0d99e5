"""The console's aiohttp application: sign-in, sessions, CSRF, roles, headers and the database.

Every page goes through :func:`guard`: it finds the session (a signed cookie, or the trusted
proxy's header), refuses forged or cross-site form posts, and gives handlers the session and a way
to run a function on a PostgreSQL connection working in the chosen portal (in a thread: the domain
functions are the CLI's, synchronous). Responses carry a strict Content-Security-Policy, are never
cached, and no page puts personal data in its URL: searches are posted, records are named by id.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import jinja2
import psycopg
from aiohttp import web
from psycopg_pool import ConnectionPool

from hubsync.console.config import ConsoleConfig, Role
from hubsync.console.metrics import console_metrics
from hubsync.console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session, SessionSigner
from hubsync.console.throttle import SignInThrottle
from hubsync.console.users import user_role
from hubsync.storage.portal_scope import enter_portal

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FLASH_COOKIE = "hubsync_console_flash"
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class Console:
    """What every handler needs; one per application (``request.app[CONSOLE]``)."""

    config: ConsoleConfig
    signer: SessionSigner
    pool: ConnectionPool[Any]
    templates: jinja2.Environment
    http: httpx.AsyncClient
    throttle: SignInThrottle = dataclasses.field(default_factory=SignInThrottle)

    async def db(self, session: Session | None, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` on a pooled connection in the session's portal, in one transaction."""
        portal = None if session is None else session.portal

        def run() -> T:
            with self.pool.connection() as conn:
                if portal is not None:
                    enter_portal(conn, portal)
                return work(conn)

        return await asyncio.to_thread(run)

    def _set_cookie(
        self, response: web.StreamResponse, name: str, value: str, *, max_age: int, path: str = "/"
    ) -> None:
        """Every console cookie: HttpOnly, SameSite=Strict, Secure unless configured otherwise."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            secure=self.config.secure_cookies,
            samesite="Strict",
            path=path,
        )

    def set_session(self, response: web.StreamResponse, session: Session) -> None:
        self._set_cookie(
            response, SESSION_COOKIE, self.signer.dumps(session), max_age=int(self.config.session_ttl_s)
        )

    def clear_session(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/")

    def set_login_nonce(self, response: web.StreamResponse, nonce: str) -> None:
        self._set_cookie(response, LOGIN_COOKIE, nonce, max_age=3600, path="/login")

    def flash(self, response: web.StreamResponse, message: str) -> None:
        """A one-time notice for the next page (a count or an outcome; never personal data)."""
        encoded = base64.urlsafe_b64encode(message[:300].encode()).decode()
        self._set_cookie(response, FLASH_COOKIE, encoded, max_age=60)


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("session", Session)


def take_flash(request: web.Request, response: web.StreamResponse) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    response.del_cookie(FLASH_COOKIE, path="/")
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()[:300]
    except (ValueError, UnicodeDecodeError):
        return None


def see_other(location: str) -> web.Response:
    """A 303 to a path of the console (after a form post, or to the sign-in page)."""
    if not location.startswith("/") or location.startswith("//"):
        location = "/"
    return web.Response(status=303, headers={"Location": location})


def _same_origin(request: web.Request) -> bool:
    """A form post from another site (Origin or Referer naming another host) is refused."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def client_address(request: web.Request, config: ConsoleConfig) -> str | None:
    """The browser's address: the peer's, or the last one a trusted proxy put in X-Forwarded-For
    (the entries before it are whatever the client sent)."""
    peer = request.remote
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and config.trusts(peer):
        last = forwarded.split(",")[-1].strip()
        if last and len(last) <= 64:
            return last
    return peer


async def _proxy_session(request: web.Request, console: Console, found: Session | None) -> Session | None:
    config = console.config
    user = request.headers.get(config.proxy_user_header, "").strip()
    if not user or not config.trusts(request.remote):
        return None
    role: Role = "admin" if user in config.proxy_admins else "viewer"
    if found is not None and found.user == user:
        return dataclasses.replace(found, role=role)
    return console.signer.new_session(user, role)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    found = console.signer.loads(request.cookies.get(SESSION_COOKIE))
    if console.config.auth == "proxy":
        session = await _proxy_session(request, console, found)
        if session is None:
            raise web.HTTPUnauthorized(text="sign in through the console's reverse proxy")
    else:
        session = found
        if found is not None:
            user = found.user
            role = await console.db(None, lambda conn: user_role(conn, user))
            session = None if role is None else dataclasses.replace(found, role=role)
        if session is None:
            if request.method == "GET":
                return see_other("/login")
            raise web.HTTPUnauthorized(text="your session ended: sign in again")
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf")
        if not _same_origin(request) or not console.signer.check_csrf(
            session, token if isinstance(token, str) else None
        ):
            log.warning("console: a POST to %s without a valid CSRF token was refused", request.path)
            raise web.HTTPForbidden(text="the form is stale or came from another site: reload the page")
    request[SESSION] = session
    response = await handler(request)
    if found is None or found != session:
        console.set_session(response, session)
    return response


def admin_only(handler: Handler) -> Handler:
    """Refuse viewers (403) before the handler runs."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if not request[SESSION].admin:
            raise web.HTTPForbidden(text="only an admin can do that")
        return await handler(request)

    return checked


def _harden(headers: Any, path: str) -> None:
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer a browser posts forms with "Origin: null",
    # which the CSRF check must refuse; URLs hold no personal data, so the own origin may see them
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    if not path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"


@web.middleware
async def harden(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; errors as a console page; the request's latency by route."""
    started = time.perf_counter()
    response = await _answer(request, handler)
    info = request.match_info.route.resource
    route = info.canonical if info is not None else "unmatched"
    console_metrics().requests.labels(
        route=route, method=request.method, status=str(response.status)
    ).observe(time.perf_counter() - started)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            _harden(exc.headers, request.path)
            raise
        response = render_error(request, exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("console: %s %s failed", request.method, request.path)
        response = render_error(request, 500, "Something went wrong; the console's log says what.")
    _harden(response.headers, request.path)
    return response


def render_error(request: web.Request, status: int, message: str) -> web.Response:
    console = request.app[CONSOLE]
    html = console.templates.get_template("error.html").render(
        status=status, message=message, session=request.get(SESSION)
    )
    return web.Response(status=status, text=html, content_type="text/html")
