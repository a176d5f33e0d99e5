"""A portal installing a public app in the sandbox, as a test needs it: a client with the portal's token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from hubsync.storage.portals import TokenPair


def installed_client(
    base_url: str,
    portal_id: int,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str = "https://app.example/cb",
) -> httpx.Client:
    """The portal's admin installs the app (consent, code exchange); a client with the access token."""
    redirect = httpx.get(
        f"{base_url}/oauth/authorize",
        params={"client_id": client_id, "redirect_uri": redirect_uri, "portal_id": str(portal_id)},
    )
    code = httpx.URL(redirect.headers["location"]).params["code"]
    tokens = httpx.post(
        f"{base_url}/oauth/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    ).json()
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=30
    )


def portal_tokens(
    base_url: str,
    portal_id: int,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str = "https://app.example/cb",
) -> TokenPair:
    """The portal's admin consents; the code exchanged for the portal's tokens (to store as an install)."""
    redirect = httpx.get(
        f"{base_url}/oauth/authorize",
        params={"client_id": client_id, "redirect_uri": redirect_uri, "portal_id": str(portal_id)},
    )
    code = httpx.URL(redirect.headers["location"]).params["code"]
    body = httpx.post(
        f"{base_url}/oauth/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    ).json()
    expires = datetime.now(UTC) + timedelta(seconds=int(body["expires_in"]))
    return TokenPair(body["access_token"], body["refresh_token"], expires)
