"""A portal's OAuth access token for the HubSpot client: refreshed before it expires, and once more
when HubSpot answers 401 ``EXPIRED_AUTHENTICATION``; never refreshed twice at once (one refresh
per process at a time, and the portal's row lock across processes, see :class:`PortalStore`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from hubsync.connectors.hubspot.http.ratelimit import portal_key
from hubsync.connectors.hubspot.oauth.client import OAuthClient
from hubsync.errors import RetriableError
from hubsync.storage.portals import PortalStore, PortalUnavailableError, TokenPair

log = logging.getLogger(__name__)

#: how often a source re-reads its portal's status (a pause takes effect within this)
STATUS_TTL_S = 10.0


class PortalTokenSource:
    def __init__(
        self,
        portal_id: int,
        store: PortalStore,
        oauth: OAuthClient,
        *,
        base_url: str,
        refresh_margin_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.portal_id = portal_id
        self.portal_key = portal_key(base_url, f"portal:{portal_id}")
        self._store = store
        self._oauth = oauth
        self._margin = timedelta(seconds=refresh_margin_s)
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._pair: TokenPair | None = None
        self._checked_at = float("-inf")
        #: refreshes this source made (tests and logs)
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"PortalTokenSource(portal_id={self.portal_id})"

    async def token(self) -> str:
        async with self._lock:
            if self._pair is None or self._monotonic() - self._checked_at > STATUS_TTL_S:
                await self._reread()
            pair = self._pair
            assert pair is not None  # _reread sets it or raises
            if pair.expires_at - self._margin <= datetime.now(UTC):
                await self._refresh(pair.access_token)
            assert self._pair is not None
            return self._pair.access_token

    async def refresh(self, rejected: str) -> str | None:
        async with self._lock:
            if self._pair is None or self._pair.access_token == rejected:
                await self._refresh(rejected)
            assert self._pair is not None
            return self._pair.access_token

    async def _reread(self) -> None:
        """The stored pair (another process may have refreshed it), and: is the portal still active?
        While PostgreSQL is unreachable a cached pair that has not expired is used on."""
        try:
            self._pair = await self._store.tokens(self.portal_id)
        except psycopg.Error as exc:
            if self._pair is None or self._pair.expires_at <= datetime.now(UTC):
                raise RetriableError(f"portal {self.portal_id}'s tokens could not be read: {exc}") from exc
            log.warning("portal %d: tokens not re-read (%s); using the cached ones", self.portal_id, exc)
        self._checked_at = self._monotonic()

    async def _refresh(self, stale: str) -> None:
        async def exchange(refresh_token: str) -> TokenPair:
            self.refreshes += 1
            return await self._oauth.refresh(refresh_token)

        try:
            self._pair = await self._store.refresh(
                self.portal_id, stale=stale, margin=self._margin, refresher=exchange
            )
        except PortalUnavailableError:
            self._pair = None
            raise
        self._checked_at = self._monotonic()
