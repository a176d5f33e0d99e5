"""Signing in and out, the console's own liveness, and the portal switcher."""

from __future__ import annotations

import secrets

from aiohttp import web

from hubsync.console.metrics import console_metrics
from hubsync.console.rendering import form_of, portals
from hubsync.console.sessions import LOGIN_COOKIE
from hubsync.console.users import authenticate
from hubsync.console.web import CONSOLE, SESSION, client_address, see_other


async def login_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    console = request.app[CONSOLE]
    if console.config.auth == "proxy":
        return see_other("/")
    # one nonce per browser, kept while it is valid: a second tab, or a favicon request sent to the
    # sign-in page, must not void the form already on screen
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not 16 <= len(nonce) <= 64 or not nonce.replace("-", "").replace("_", "").isalnum():
        nonce = secrets.token_urlsafe(18)
    response = web.Response(status=status, content_type="text/html")
    response.text = console.templates.get_template("login.html").render(
        token=console.signer.login_token(nonce), error=error
    )
    console.set_login_nonce(response, nonce)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    return await login_page(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    if not console.signer.check_login_token(request.cookies.get(LOGIN_COOKIE), form.get("token")):
        console_metrics().sign_ins.labels(outcome="expired_form").inc()
        return await login_page(request, error="The sign-in form expired: try again.", status=403)
    username, password = form.get("username", "").strip(), form.get("password", "")
    address = client_address(request, console.config)
    wait = console.throttle.attempt(username, address)
    if wait:
        console_metrics().sign_ins.labels(outcome="throttled").inc()
        minutes = max(1, round(wait / 60))
        return await login_page(
            request, error=f"Too many failed sign-ins: try again in {minutes} minute(s).", status=429
        )
    async with console.throttle.checks:
        role = await console.db(None, lambda conn: authenticate(conn, username, password))
    if role is None:
        console_metrics().sign_ins.labels(outcome="refused").inc()
        return await login_page(request, error="Wrong user name or password.", status=401)
    console.throttle.succeeded(username, address)
    console_metrics().sign_ins.labels(outcome="ok").inc()
    response = see_other("/")
    console.set_session(response, console.signer.new_session(username, role))
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    response = see_other("/login")
    console.clear_session(response)
    return response


async def healthz(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def portal_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    known = {p["id"] for p in await console.db(None, portals)}
    try:
        chosen = int(form.get("portal", ""))
    except ValueError:
        chosen = -1
    if chosen not in known:
        raise web.HTTPBadRequest(text="no such portal")
    response = see_other("/")
    console.set_session(response, request[SESSION].with_portal(chosen))
    return response
