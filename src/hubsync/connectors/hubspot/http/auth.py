"""Where the HubSpot client's bearer token comes from: a private app's fixed token, or a portal's
OAuth access token that is refreshed before it expires and again when HubSpot answers 401
``EXPIRED_AUTHENTICATION``, up to three times for one request
(:class:`hubsync.connectors.hubspot.oauth.tokens.PortalTokenSource`)."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from hubsync.connectors.hubspot.http.ratelimit import portal_key


class TokenSource(Protocol):
    #: names the portal for the rate-limit buckets every client of that portal in a process shares
    portal_key: tuple[str, str]

    async def token(self) -> str:
        """A token to send now."""
        ...

    async def refresh(self, rejected: str) -> str | None:
        """A new token after HubSpot called ``rejected`` expired; None when this source cannot renew."""
        ...


class StaticToken:
    """A private app's access token: never expires, never refreshed."""

    def __init__(self, token: SecretStr, base_url: str) -> None:
        self._token = token
        self.portal_key = portal_key(base_url, token.get_secret_value())

    async def token(self) -> str:
        return self._token.get_secret_value()

    async def refresh(self, rejected: str) -> str | None:  # noqa: ARG002 - nothing to renew
        return None
