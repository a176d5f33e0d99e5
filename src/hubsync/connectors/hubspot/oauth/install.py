"""Installing the public app: ``GET /oauth/install`` sends the user to HubSpot's consent page with a
signed ``state``; HubSpot sends them back to ``GET /oauth/callback`` with a ``code``, which is
exchanged for the portal's tokens, stored encrypted (:class:`PortalStore`). Served by the webhook
receiver when ``HUBSPOT_CLIENT_ID`` is set (HUBSPOT_OAUTH_REDIRECT_URI points at its callback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from aiohttp import web

from hubsync.connectors.hubspot.oauth.client import OAuthClient, OAuthRequestError
from hubsync.errors import RetriableError
from hubsync.storage.defaults import DefaultsFile
from hubsync.storage.portals import PortalStore

log = logging.getLogger(__name__)

INSTALL_PATH = "/oauth/install"
CALLBACK_PATH = "/oauth/callback"
#: how long an install may take between the redirect and the callback
STATE_TTL_S = 600


class InstallState:
    """``state`` values this deployment made: ``<unix time>.<nonce>.<HMAC>``, valid for ``STATE_TTL_S``."""

    def __init__(self, client_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"hubsync-oauth-state\x1f" + client_secret.encode()).digest()
        self._clock = clock

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def make(self) -> str:
        payload = f"{int(self._clock())}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._mac(payload)}"

    def valid(self, state: str) -> bool:
        payload, _, mac = state.rpartition(".")
        issued, _, _ = payload.partition(".")
        if (
            not payload
            or not issued.isdigit()
            or not hmac.compare_digest(mac.encode(), self._mac(payload).encode())
        ):
            return False
        return 0 <= self._clock() - int(issued) <= STATE_TTL_S


def _page(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def add_install_routes(
    app: web.Application, oauth: OAuthClient, store: PortalStore, defaults: DefaultsFile
) -> None:
    """``/oauth/install`` and ``/oauth/callback``: a portal that installs is stored with its tokens
    and given the ``defaults`` (settings and field mappings); each portal keeps its own."""
    states = InstallState(oauth.config.client_secret.get_secret_value())

    async def install(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": oauth.config.authorize_redirect(states.make())})

    async def callback(request: web.Request) -> web.Response:
        query = request.query
        if "error" in query:
            return _page(
                400, f"HubSpot did not install the app: {query.get('error_description', query['error'])}"
            )
        if not states.valid(query.get("state", "")):
            return _page(
                400, f"this install link expired or was not made here: start again at {INSTALL_PATH}"
            )
        code = query.get("code", "")
        if not code:
            return _page(400, "HubSpot sent no authorization code")
        try:
            tokens = await oauth.exchange_code(code)
            info = await oauth.token_info(tokens.access_token)
            portal = await store.install(
                info.portal_id, tokens, hub_domain=info.hub_domain, app_id=info.app_id, scopes=info.scopes
            )
            await store.adopt_as_home(portal.portal_id)
            await store.seed(portal.portal_id, defaults)
        except OAuthRequestError as exc:
            return _page(400, f"the install failed: {exc}")
        except RetriableError as exc:
            return _page(503, f"HubSpot could not be reached, try again: {exc}")
        log.info("oauth: portal %d (%s) installed the app", portal.portal_id, portal.hub_domain)
        return _page(200, f"hubsync is installed for portal {portal.portal_id} ({portal.hub_domain})")

    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(CALLBACK_PATH, callback)
