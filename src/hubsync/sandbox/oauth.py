"""HubSpot's OAuth for public apps, as the sandbox serves it (``../shared/hubspot-facts.md``, OAuth).

* ``GET /oauth/authorize?client_id&redirect_uri&scope&state``: HubSpot's consent screen; the
  sandbox consents at once and redirects to ``redirect_uri`` with ``code`` and ``state``
  (``portal_id`` picks the installing portal; default: the sandbox's);
* ``POST /oauth/v1/token`` (form): ``grant_type=authorization_code`` (``client_id``,
  ``client_secret``, ``redirect_uri``, ``code``) or ``grant_type=refresh_token``
  (``client_id``, ``client_secret``, ``refresh_token``); answers ``access_token``,
  ``refresh_token``, ``expires_in``, ``token_type``; errors are HubSpot's OAuth bodies
  (``{"status": "BAD_AUTH_CODE", "message": ...}``) with 400;
* ``GET /oauth/v1/access-tokens/{token}``: the token's ``hub_id``, ``app_id``, ``scopes``,
  ``expires_in``...; ``GET`` / ``DELETE /oauth/v1/refresh-tokens/{token}`` (delete revokes it).

Access tokens live ``config.oauth_access_token_ttl_s``; an expired one gets HubSpot's 401
``EXPIRED_AUTHENTICATION`` from the auth middleware. ``POST /_sandbox/oauth/expire`` expires every
access token now (``?portal=N``: that portal's only); ``GET /_sandbox/oauth`` counts the grants
served (tests check single-flight refreshes with it).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import correlation_id
from hubsync.sandbox.state import SANDBOX_PORTALS


@dataclass(frozen=True, slots=True)
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    portal_id: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Access:
    portal_id: int
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(slots=True)
class OAuthState:
    """Codes, access and refresh tokens issued by the sandbox's OAuth app."""

    config: SandboxConfig
    clock: Any = time.time
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, _Access] = field(default_factory=dict)
    refresh: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    grants: dict[str, int] = field(default_factory=lambda: {"authorization_code": 0, "refresh_token": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, portal_id: int, scopes: tuple[str, ...]) -> tuple[str, int]:
        token = f"CN{secrets.token_urlsafe(48)}"  # HubSpot's are opaque, up to 300 characters
        ttl = int(self.config.oauth_access_token_ttl_s)
        self.access[token] = _Access(portal_id, scopes, self.clock() + ttl)
        return token, ttl

    def portal(self, token: str) -> int | None:
        issued = self.access.get(token)
        return None if issued is None else issued.portal_id

    def expiry(self, token: str) -> float | None:
        issued = self.access.get(token)
        return None if issued is None else issued.expires_at

    def expire_all(self, portal_id: int | None = None) -> int:
        """Expire every access token now (only ``portal_id``'s, when given); returns how many."""
        with self.lock:
            now = self.clock()
            expired = 0
            for token, issued in list(self.access.items()):
                if portal_id is None or issued.portal_id == portal_id:
                    self.access[token] = _Access(issued.portal_id, issued.scopes, min(issued.expires_at, now))
                    expired += 1
            return expired


OAUTH_STATE = web.AppKey("hubsync.sandbox.oauth", OAuthState)


def _oauth_error(status: str, message: str, code: int = 400) -> web.Response:
    body = {"status": status, "message": message, "correlationId": correlation_id()}
    return web.json_response(body, status=code)


def _state(request: web.Request) -> OAuthState:
    return request.app[OAUTH_STATE]


def _client_ok(state: OAuthState, form: Any) -> web.Response | None:
    config = state.config
    if config.oauth_client_id is None or form.get("client_id") != config.oauth_client_id:
        return _oauth_error("BAD_CLIENT_ID", "missing or invalid client id")
    secret = config.oauth_client_secret
    if secret is None or not secrets.compare_digest(
        str(form.get("client_secret", "")).encode(), secret.get_secret_value().encode()
    ):
        return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
    return None


async def authorize(request: web.Request) -> web.Response:
    state, query = _state(request), request.query
    if state.config.oauth_client_id is None or query.get("client_id") != state.config.oauth_client_id:
        return _oauth_error("BAD_CLIENT_ID", "unknown client id")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return _oauth_error("BAD_REDIRECT_URI", "missing or invalid redirect uri")
    scopes = tuple(query.get("scope", "").split())
    try:
        portal_id = int(query.get("portal_id", state.config.portal_id))
    except ValueError:
        return _oauth_error("BAD_PORTAL_ID", "portal_id must be a number")
    portals = request.app.get(SANDBOX_PORTALS)
    if portals is not None:
        portals.state(portal_id)  # a portal that installs the app exists from now on
    code = secrets.token_urlsafe(24)
    with state.lock:
        state.codes[code] = _Code(query["client_id"], redirect_uri, scopes, portal_id, state.clock() + 300)
    params = {"code": code} | ({"state": query["state"]} if "state" in query else {})
    separator = "&" if "?" in redirect_uri else "?"
    return web.Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


async def token(request: web.Request) -> web.Response:
    state = _state(request)
    form = await request.post()
    refused = _client_ok(state, form)
    if refused is not None:
        return refused
    grant = form.get("grant_type")
    with state.lock:
        if grant == "authorization_code":
            code = state.codes.pop(str(form.get("code", "")), None)
            if code is None or code.expires_at < state.clock():
                return _oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
            if form.get("redirect_uri") != code.redirect_uri:
                return _oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match the authorize request")
            refresh = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(16)}"
            state.refresh[refresh] = (code.portal_id, code.scopes)
            portal_id, scopes = code.portal_id, code.scopes
        elif grant == "refresh_token":
            refresh = str(form.get("refresh_token", ""))
            if refresh not in state.refresh:
                return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            portal_id, scopes = state.refresh[refresh]
        else:
            return _oauth_error("BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
        state.grants[str(grant)] += 1
        access, ttl = state.issue(portal_id, scopes)
    return web.json_response(
        {"token_type": "bearer", "access_token": access, "refresh_token": refresh, "expires_in": ttl}
    )


async def access_token_info(request: web.Request) -> web.Response:
    state = _state(request)
    value = request.match_info["token"]
    issued = state.access.get(value)
    if issued is None or issued.expires_at <= state.clock():
        return _oauth_error("BAD_ACCESS_TOKEN", "missing, expired or unknown access token", 404)
    return web.json_response(
        {
            "token": value,
            "user": "admin@sandbox.example",
            "hub_domain": f"portal-{issued.portal_id}.sandbox.example",
            "scopes": list(issued.scopes),
            "hub_id": issued.portal_id,
            "app_id": state.config.app_id,
            "expires_in": int(issued.expires_at - state.clock()),
            "user_id": 1,
            "token_type": "access",
        }
    )


async def refresh_token_info(request: web.Request) -> web.Response:
    state = _state(request)
    value = request.match_info["token"]
    if value not in state.refresh:
        return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token", 404)
    portal_id, scopes = state.refresh[value]
    return web.json_response(
        {
            "token": value,
            "user": "admin@sandbox.example",
            "hub_domain": f"portal-{portal_id}.sandbox.example",
            "scopes": list(scopes),
            "hub_id": portal_id,
            "client_id": state.config.oauth_client_id,
            "user_id": 1,
            "token_type": "refresh",
        }
    )


async def delete_refresh_token(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        if state.refresh.pop(request.match_info["token"], None) is None:
            return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token", 404)
    return web.Response(status=204)


async def control_status(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"grants": dict(state.grants), "access_tokens": len(state.access)})


async def control_expire(request: web.Request) -> web.Response:
    portal = request.query.get("portal")
    if portal is not None and not portal.isdigit():
        return web.json_response({"message": f"portal must be a portal id, got {portal!r}"}, status=400)
    return web.json_response({"expired": _state(request).expire_all(None if portal is None else int(portal))})


def register_oauth_routes(app: web.Application, state: OAuthState) -> None:
    app[OAUTH_STATE] = state
    app.router.add_get("/oauth/authorize", authorize)
    app.router.add_post("/oauth/v1/token", token)
    app.router.add_get("/oauth/v1/access-tokens/{token}", access_token_info)
    app.router.add_get("/oauth/v1/refresh-tokens/{token}", refresh_token_info)
    app.router.add_delete("/oauth/v1/refresh-tokens/{token}", delete_refresh_token)
    app.router.add_get("/_sandbox/oauth", control_status)
    app.router.add_post("/_sandbox/oauth/expire", control_expire)
