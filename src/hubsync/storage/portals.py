"""The portals that installed hubsync's public app, and their OAuth tokens (encrypted at rest).

Refreshing a portal's access token takes the portal's row lock (``SELECT ... FOR UPDATE``) for the
whole exchange with HubSpot, so two processes never refresh one portal at once: the second one
waits, then finds the fresh token the first stored and uses it (:meth:`PortalStore.refresh`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from hubsync.errors import FatalError
from hubsync.storage.defaults import DefaultsFile, SeedReport, seed_defaults
from hubsync.storage.portal_scope import adopt_home_portal, enter_portal
from hubsync.storage.token_cipher import TokenCipher

PortalStatus = Literal["active", "paused", "revoked", "removed"]
STATUSES: tuple[PortalStatus, ...] = ("active", "paused", "revoked", "removed")


class PortalUnavailableError(FatalError):
    """The portal is not installed, or paused, revoked or removed: hubsync does not call HubSpot for it."""

    def __init__(self, portal_id: int, status: str, reason: str | None) -> None:
        why = f": {reason}" if reason else ""
        super().__init__(f"portal {portal_id} is {status}{why} (see `hubsync portals show {portal_id}`)")
        self.portal_id = portal_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Portal:
    portal_id: int
    hub_domain: str | None
    app_id: int | None
    scopes: tuple[str, ...]
    status: PortalStatus
    status_reason: str | None
    access_expires_at: datetime | None
    refreshed_at: datetime | None
    installed_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Portal:
        return cls(
            int(row["portal_id"]),
            row["hub_domain"],
            row["app_id"],
            tuple(row["scopes"] or ()),
            row["status"],
            row["status_reason"],
            row["access_expires_at"],
            row["refreshed_at"],
            row["installed_at"],
            row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A portal's tokens, in the clear (only ever in memory)."""

    access_token: str
    refresh_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"TokenPair(expires_at={self.expires_at.isoformat()}, tokens=<redacted>)"


#: what refreshing calls: the refresh token in, the new pair out (raises when HubSpot refuses)
Refresher = Callable[[str], Awaitable[TokenPair]]

_COLUMNS = (
    "portal_id, hub_domain, app_id, scopes, status, status_reason, access_expires_at, refreshed_at, "
    "installed_at, updated_at"
)


class PortalStore:
    """Reads and writes ``hubsync.portals``; each call uses its own short connection."""

    def __init__(self, database_url: str, cipher: TokenCipher | Callable[[], TokenCipher]) -> None:
        self._url = database_url
        self._cipher = cipher

    @property
    def cipher(self) -> TokenCipher:
        """The keys, read when a token is first sealed or opened (listing portals needs none)."""
        if not isinstance(self._cipher, TokenCipher):
            self._cipher = self._cipher()
        return self._cipher

    def _seal(self, portal_id: int, kind: str, token: str) -> str:
        return self.cipher.encrypt(token, context=f"portal:{portal_id}:{kind}")

    def _open(self, portal_id: int, kind: str, blob: str) -> str:
        return self.cipher.decrypt(blob, context=f"portal:{portal_id}:{kind}")

    async def install(
        self,
        portal_id: int,
        tokens: TokenPair,
        *,
        hub_domain: str | None,
        app_id: int | None,
        scopes: Sequence[str],
    ) -> Portal:
        """Store a new install (or a reinstall: the portal is active again, with the new tokens)."""
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute(
                "INSERT INTO hubsync.portals (portal_id, hub_domain, app_id, scopes, status, status_reason,"
                " refresh_token_enc, access_token_enc, access_expires_at, refreshed_at)"
                " VALUES (%s, %s, %s, %s, 'active', NULL, %s, %s, %s, now())"
                " ON CONFLICT (portal_id) DO UPDATE SET hub_domain = EXCLUDED.hub_domain,"
                " app_id = EXCLUDED.app_id, scopes = EXCLUDED.scopes, status = 'active',"
                " status_reason = NULL, refresh_token_enc = EXCLUDED.refresh_token_enc,"
                " access_token_enc = EXCLUDED.access_token_enc,"
                " access_expires_at = EXCLUDED.access_expires_at, refreshed_at = now(), updated_at = now()"
                f" RETURNING {_COLUMNS}",
                (
                    portal_id,
                    hub_domain,
                    app_id,
                    list(scopes),
                    self._seal(portal_id, "refresh", tokens.refresh_token),
                    self._seal(portal_id, "access", tokens.access_token),
                    tokens.expires_at,
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
            return Portal.from_row(row)

    async def adopt_as_home(self, portal_id: int) -> bool:
        """The first portal to install the app becomes the deployment's home portal, if none was named
        yet: the rows kept so far (a private-app past) become its own (see :func:`adopt_home_portal`)."""

        def adopt() -> bool:
            with psycopg.connect(self._url) as conn, conn.transaction():
                return adopt_home_portal(conn, portal_id)

        return await asyncio.to_thread(adopt)

    async def seed(self, portal_id: int, defaults: DefaultsFile) -> SeedReport:
        """Give a newly installed portal the default settings and field mappings (rows it has
        already, a reinstall's, are left alone)."""

        def seed() -> SeedReport:
            with psycopg.connect(self._url) as conn, conn.transaction():
                enter_portal(conn, portal_id)
                return seed_defaults(conn, defaults)

        return await asyncio.to_thread(seed)

    async def get(self, portal_id: int) -> Portal | None:
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM hubsync.portals WHERE portal_id = %s", (portal_id,)
            )
            row = await cursor.fetchone()
            return None if row is None else Portal.from_row(row)

    async def list(self) -> list[Portal]:
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute(f"SELECT {_COLUMNS} FROM hubsync.portals ORDER BY portal_id")
            return [Portal.from_row(row) for row in await cursor.fetchall()]

    async def set_status(
        self,
        portal_id: int,
        status: PortalStatus,
        reason: str | None,
        *,
        only_from: Sequence[PortalStatus] = STATUSES,
    ) -> Portal | None:
        """Change a portal's status if it is one of ``only_from`` (in one statement: no race with
        another change); ``removed`` also deletes its tokens. None when no portal was changed."""
        wipe = ", refresh_token_enc = NULL, access_token_enc = NULL" if status == "removed" else ""
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute(
                f"UPDATE hubsync.portals SET status = %s, status_reason = %s, updated_at = now(){wipe}"
                f" WHERE portal_id = %s AND status = ANY(%s) RETURNING {_COLUMNS}",
                (status, reason, portal_id, list(only_from)),
            )
            row = await cursor.fetchone()
            return None if row is None else Portal.from_row(row)

    async def stored_tokens(self, portal_id: int) -> TokenPair | None:
        """The tokens still stored for the portal, whatever its status (None once removed)."""
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute("SELECT * FROM hubsync.portals WHERE portal_id = %s", (portal_id,))
            row = await cursor.fetchone()
        if row is None or row["refresh_token_enc"] is None:
            return None
        return TokenPair(
            self._open(portal_id, "access", row["access_token_enc"]),
            self._open(portal_id, "refresh", row["refresh_token_enc"]),
            row["access_expires_at"],
        )

    async def tokens(self, portal_id: int) -> TokenPair:
        """The stored tokens of an active portal (:class:`PortalUnavailableError` otherwise)."""
        async with await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn:
            cursor = await conn.execute("SELECT * FROM hubsync.portals WHERE portal_id = %s", (portal_id,))
            return self._active_tokens(portal_id, await cursor.fetchone())

    def _active_tokens(self, portal_id: int, row: dict[str, Any] | None) -> TokenPair:
        if row is None:
            raise PortalUnavailableError(portal_id, "not installed", "install the app: GET /oauth/install")
        if row["status"] != "active":
            raise PortalUnavailableError(portal_id, row["status"], row["status_reason"])
        if row["refresh_token_enc"] is None:
            raise PortalUnavailableError(portal_id, "without tokens", "install the app again")
        return TokenPair(
            self._open(portal_id, "access", row["access_token_enc"]),
            self._open(portal_id, "refresh", row["refresh_token_enc"]),
            row["access_expires_at"],
        )

    async def refresh(
        self, portal_id: int, *, stale: str | None, margin: timedelta, refresher: Refresher
    ) -> TokenPair:
        """A fresh pair: the stored one if another process refreshed meanwhile (its access token is
        not ``stale`` and lives longer than ``margin``), else ``refresher``'s, stored. The row stays
        locked throughout, so a portal is never refreshed twice at once. A :class:`PortalRevokedError`
        from ``refresher`` marks the portal revoked."""
        revoked: PortalRevokedError | None = None
        async with (
            await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn,
            conn.transaction(),
        ):
            cursor = await conn.execute(
                "SELECT * FROM hubsync.portals WHERE portal_id = %s FOR UPDATE", (portal_id,)
            )
            current = self._active_tokens(portal_id, await cursor.fetchone())
            if current.access_token != stale and current.expires_at - margin > datetime.now(UTC):
                return current
            try:
                fresh = await refresher(current.refresh_token)
            except PortalRevokedError as exc:
                revoked = exc
                await conn.execute(
                    "UPDATE hubsync.portals SET status = 'revoked', status_reason = %s,"
                    " updated_at = now() WHERE portal_id = %s",
                    (str(exc), portal_id),
                )
            else:
                await self._store(conn, portal_id, fresh)
                return fresh
        # raised once the revoked status is committed
        raise PortalUnavailableError(portal_id, "revoked", str(revoked)) from revoked

    async def _store(self, conn: psycopg.AsyncConnection[Any], portal_id: int, fresh: TokenPair) -> None:
        await conn.execute(
            "UPDATE hubsync.portals SET access_token_enc = %s, refresh_token_enc = %s,"
            " access_expires_at = %s, refreshed_at = now(), updated_at = now() WHERE portal_id = %s",
            (
                self._seal(portal_id, "access", fresh.access_token),
                self._seal(portal_id, "refresh", fresh.refresh_token),
                fresh.expires_at,
                portal_id,
            ),
        )

    async def rotate_key(self) -> int:
        """Re-encrypt every stored token with the current key; returns the portals changed."""
        changed = 0
        async with (
            await psycopg.AsyncConnection.connect(self._url, row_factory=dict_row) as conn,
            conn.transaction(),
        ):
            cursor = await conn.execute(
                "SELECT portal_id, access_token_enc, refresh_token_enc FROM hubsync.portals"
                " WHERE refresh_token_enc IS NOT NULL FOR UPDATE"
            )
            for row in await cursor.fetchall():
                pid = int(row["portal_id"])
                blobs = {"access": row["access_token_enc"], "refresh": row["refresh_token_enc"]}
                if all(self.cipher.key_id_of(b) == self.cipher.current_key_id for b in blobs.values()):
                    continue
                sealed = {k: self._seal(pid, k, self._open(pid, k, b)) for k, b in blobs.items()}
                await conn.execute(
                    "UPDATE hubsync.portals SET access_token_enc = %s, refresh_token_enc = %s"
                    " WHERE portal_id = %s",
                    (sealed["access"], sealed["refresh"], pid),
                )
                changed += 1
        return changed


class PortalRevokedError(FatalError):
    """HubSpot refused the portal's refresh token: the app was uninstalled or the token revoked."""
