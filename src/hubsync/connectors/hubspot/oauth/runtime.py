"""The HubSpot client configuration of a command: a private app's token (``HUBSPOT_ACCESS_TOKEN``),
or, with the public app configured, the tokens of the portal it works on (``HUBSYNC_PORTAL_ID``, or
the only active portal)."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.tokens import PortalTokenSource
from hubsync.errors import ConfigurationError
from hubsync.settings import Settings, public_app, require_database_url
from hubsync.storage.portals import PortalStore
from hubsync.storage.token_cipher import TokenCipher

log = logging.getLogger(__name__)


class PortalChoiceError(ConfigurationError, RuntimeError):
    """No portal, or several, and ``HUBSYNC_PORTAL_ID`` (``--portal``) does not say which."""


def portal_store(settings: Settings) -> PortalStore:
    """The portals table; ``HUBSYNC_TOKEN_KEYS`` is read (and required) once a token is touched."""
    return PortalStore(require_database_url(settings), lambda: TokenCipher.from_setting(settings.token_keys))


async def chosen_portal(settings: Settings, store: PortalStore) -> int:
    if settings.portal_id is not None:
        return settings.portal_id
    # a paused or revoked portal is still chosen: its token source then says why it does not sync
    active = [p.portal_id for p in await store.list() if p.status != "removed"]
    if len(active) == 1:
        return active[0]
    if not active:
        raise PortalChoiceError(
            "no portal has installed the app: open /oauth/install on the webhook receiver"
        )
    raise PortalChoiceError(
        f"{len(active)} portals installed the app ({', '.join(map(str, active))}): "
        "say which with --portal or HUBSYNC_PORTAL_ID"
    )


async def portal_client_config(
    settings: Settings, **overrides: Any
) -> tuple[int | None, HubSpotClientConfig]:
    """The portal a command works on (None: a private app's, whatever its id) and its client
    configuration: the private app's token when ``HUBSPOT_ACCESS_TOKEN`` is set; else the chosen
    portal's OAuth tokens."""
    if not public_app(settings):
        return None, HubSpotClientConfig.from_settings(settings, **overrides)
    store = portal_store(settings)
    portal = await chosen_portal(settings, store)
    source = PortalTokenSource(
        portal,
        store,
        OAuthClient(OAuthAppConfig.from_settings(settings)),
        base_url=settings.hubspot_base_url,
        refresh_margin_s=settings.oauth_refresh_margin_s,
    )
    return portal, HubSpotClientConfig.from_settings(settings, token_source=source, **overrides)


async def hubspot_client_config(settings: Settings, **overrides: Any) -> HubSpotClientConfig:
    """The client configuration of :func:`portal_client_config`."""
    return (await portal_client_config(settings, **overrides))[1]


#: how long the webhook receiver trusts its list of active portals before reading it again
INSTALLED_PORTALS_TTL_S = 5.0


class InstalledPortals:
    """The active installs of the public app: the webhook receiver's gate (events of these portals
    only) and the portals the long-running components work for (``PortalClients.portals``). The
    table is read again every ``ttl_s``; while the database is unreachable the last answer stands."""

    def __init__(self, store: PortalStore, *, ttl_s: float = INSTALLED_PORTALS_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._ids: frozenset[int] = frozenset()
        self._read_at = float("-inf")

    async def accepted(self) -> frozenset[int]:
        if time.monotonic() - self._read_at > self._ttl_s:
            try:
                portals = await self._store.list()
            except psycopg.Error as exc:
                log.warning("could not read the installed portals, using the last list: %s", exc)
            else:
                self._ids = frozenset(p.portal_id for p in portals if p.status == "active")
            self._read_at = time.monotonic()
        return self._ids


class FixedPortals:
    """A private app's deployment told its portal (``HUBSYNC_PORTAL_ID``): only its events."""

    def __init__(self, portal_id: int) -> None:
        self._ids = frozenset({portal_id})

    async def accepted(self) -> frozenset[int]:
        return self._ids


def portal_gate(settings: Settings) -> InstalledPortals | FixedPortals | None:
    """Which portals' webhook events to accept: the installed ones with the public app, the
    configured one with a private app, all of them when neither says (a private app's webhooks
    come from its own portal only)."""
    if public_app(settings):
        return InstalledPortals(portal_store(settings))
    if settings.portal_id is not None:
        return FixedPortals(settings.portal_id)
    return None
