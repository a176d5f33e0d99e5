"""HubSpot's OAuth endpoints (``/oauth/v1/*``): exchange an install's code, refresh, read a token's
portal, revoke. Errors are sorted as the rest of hubsync's: HubSpot refusing a refresh token is
:class:`PortalRevokedError` (the portal stops, nothing retries it), a refused code or client a
:class:`OAuthRequestError`, a network error or a 5xx :class:`RetriableError`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from hubsync.errors import ConfigurationError, RejectedRequestError, RetriableError
from hubsync.settings import Settings
from hubsync.storage.portals import PortalRevokedError, TokenPair

#: the token metadata and revocation paths carry a token in the URL, which httpx logs at INFO
_TOKEN_IN_PATH = re.compile(r"(/oauth/v1/(?:access|refresh)-tokens/)[^/?\s\"]+")


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("/oauth/v1/" in str(a) for a in record.args):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1<redacted>", str(a)) if "/oauth/v1/" in str(a) else a
                for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactTokens())

#: HubSpot's OAuth error statuses that mean "this refresh token is no good any more"
_REVOKED = frozenset({"BAD_REFRESH_TOKEN", "INVALID_REFRESH_TOKEN"})


class OAuthRequestError(RejectedRequestError):
    """HubSpot refused an OAuth request (a bad code, client id or secret, or redirect URI)."""


@dataclass(frozen=True, slots=True)
class OAuthAppConfig:
    client_id: str
    client_secret: SecretStr
    redirect_uri: str
    scopes: tuple[str, ...]
    authorize_url: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthAppConfig:
        missing = [
            name
            for name, value in (
                ("HUBSPOT_CLIENT_ID", settings.hubspot_client_id),
                ("HUBSPOT_CLIENT_SECRET", settings.hubspot_client_secret),
                ("HUBSPOT_OAUTH_REDIRECT_URI", settings.hubspot_oauth_redirect_uri),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(f"the public app (OAuth) needs {', '.join(missing)}")
        assert settings.hubspot_client_id is not None
        assert settings.hubspot_client_secret is not None
        assert settings.hubspot_oauth_redirect_uri is not None
        return cls(
            settings.hubspot_client_id,
            settings.hubspot_client_secret,
            settings.hubspot_oauth_redirect_uri,
            tuple(settings.hubspot_oauth_scopes.split()),
            settings.hubspot_authorize_url,
            settings.hubspot_base_url,
        )

    def authorize_redirect(self, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(self.scopes),
                "state": state,
            },
            quote_via=quote,
        )
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{query}"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    portal_id: int
    hub_domain: str | None
    app_id: int | None
    scopes: tuple[str, ...]


class OAuthClient:
    """Each call opens its own connection: OAuth calls are rare (an install, a refresh every half hour)."""

    def __init__(self, config: OAuthAppConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(
                base_url=self.config.base_url, transport=self._transport, timeout=30.0
            ) as http:
                response = await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RetriableError(f"HubSpot OAuth {path.split('/')[3]}: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableError(f"HubSpot OAuth answered {response.status_code}")
        return response

    async def _token(self, form: dict[str, str]) -> TokenPair:
        form = {
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.get_secret_value(),
            **form,
        }
        response = await self._call("POST", "/oauth/v1/token", data=form)
        body = _json(response)
        if response.status_code != 200:
            status = str(body.get("status", response.status_code))
            message = (
                f"HubSpot refused the {form['grant_type']} grant: {status} {body.get('message', '')}".strip()
            )
            if form["grant_type"] == "refresh_token" and status in _REVOKED:
                raise PortalRevokedError(message)
            raise OAuthRequestError(message)
        expires = datetime.now(UTC) + timedelta(seconds=int(body["expires_in"]))
        return TokenPair(str(body["access_token"]), str(body["refresh_token"]), expires)

    async def exchange_code(self, code: str) -> TokenPair:
        return await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.config.redirect_uri}
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def token_info(self, access_token: str) -> TokenInfo:
        response = await self._call("GET", f"/oauth/v1/access-tokens/{quote(access_token, safe='')}")
        body = _json(response)
        if response.status_code != 200:
            raise OAuthRequestError(f"HubSpot does not know the new access token ({response.status_code})")
        return TokenInfo(
            int(body["hub_id"]), body.get("hub_domain"), body.get("app_id"), tuple(body.get("scopes") or ())
        )

    async def revoke(self, refresh_token: str) -> None:
        response = await self._call("DELETE", f"/oauth/v1/refresh-tokens/{quote(refresh_token, safe='')}")
        if response.status_code not in (200, 204, 404):  # 404: already gone
            raise OAuthRequestError(f"HubSpot did not revoke the refresh token ({response.status_code})")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
