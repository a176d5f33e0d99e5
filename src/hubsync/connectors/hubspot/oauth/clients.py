"""The HubSpot clients of a long-running component (worker, webhook receiver, poller): one per portal.

With a private app there is one portal, the token's: :meth:`PortalClients.client` gives its one
client whatever portal is asked (None). With the public app every portal that installed it gets
its own :class:`~hubsync.connectors.hubspot.http.client.HubSpotClient`, made on first use: its
tokens (:class:`~hubsync.connectors.hubspot.oauth.tokens.PortalTokenSource`, refreshed before
expiry), its own rate-limit buckets learnt from its own headers, and the process's one
:class:`~hubsync.connectors.hubspot.http.fairness.FairShare`, so the portals share the process
fairly. :meth:`PortalClients.portals` lists the portals to work for (the active installs, read
again every few seconds), so a portal installed, paused or revoked while the process runs is
picked up or left alone without a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.http.fairness import FairShare
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.runtime import INSTALLED_PORTALS_TTL_S, InstalledPortals, portal_store
from hubsync.connectors.hubspot.oauth.tokens import PortalTokenSource
from hubsync.metrics import HubSpotClientMetrics
from hubsync.settings import Settings, public_app
from hubsync.storage.portals import PortalStore


class ClientsByPortal(Protocol):
    """The HubSpot client of each portal: :class:`PortalClients`, or :class:`OneClient`."""

    @property
    def many(self) -> bool: ...

    def client(self, portal: int | None) -> HubSpotClient: ...

    async def portals(self) -> Sequence[int | None]: ...


class OneClient:
    """One client for whatever portal is asked (a private app's, or a test's)."""

    many = False

    def __init__(self, client: HubSpotClient) -> None:
        self._client = client

    def client(self, portal: int | None) -> HubSpotClient:  # noqa: ARG002 - one portal
        return self._client

    async def portals(self) -> Sequence[int | None]:
        return [None]


class PortalClients:
    """One HubSpot client per portal; see the module docstring. Close with :meth:`aclose`."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: HubSpotClientMetrics | None = None,
        store: PortalStore | None = None,
        portals_ttl_s: float = INSTALLED_PORTALS_TTL_S,
        **overrides: Any,
    ) -> None:
        self.settings = settings
        self.many = public_app(settings)
        self.fair = FairShare(settings.hubspot_max_in_flight)
        self._metrics = metrics
        self._overrides = overrides
        self._store = store if store is not None or not self.many else portal_store(settings)
        self._oauth = OAuthClient(OAuthAppConfig.from_settings(settings)) if self.many else None
        self._clients: dict[int | None, HubSpotClient] = {}
        self._installed = (
            InstalledPortals(self._store, ttl_s=portals_ttl_s) if self._store is not None else None
        )

    async def portals(self) -> Sequence[int | None]:
        """The portals to work for now: the active installs of the public app (a portal paused or
        revoked drops out, one installed joins), or ``[None]``, the private app's one portal. While
        the database is unreachable the last list stands."""
        if not self.many or self._installed is None:
            return [None]
        return sorted(await self._installed.accepted())

    def client(self, portal: int | None) -> HubSpotClient:
        """``portal``'s client (made on first use); the private app's one client for any portal."""
        key = portal if self.many else None
        found = self._clients.get(key)
        if found is not None:
            return found
        if key is None:
            if self.many:
                raise ValueError("the public app calls HubSpot for a named portal only")
            config = HubSpotClientConfig.from_settings(self.settings, fair_share=self.fair, **self._overrides)
        else:
            assert self._store is not None
            assert self._oauth is not None
            source = PortalTokenSource(
                key,
                self._store,
                self._oauth,
                base_url=self.settings.hubspot_base_url,
                refresh_margin_s=self.settings.oauth_refresh_margin_s,
            )
            config = HubSpotClientConfig.from_settings(
                self.settings, token_source=source, fair_share=self.fair, **self._overrides
            )
        client = HubSpotClient(config, metrics=self._metrics)
        self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
