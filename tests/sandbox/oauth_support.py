"""A portal installing a public app in the sandbox, as a test needs it: a client with the portal's token."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from hubsync.storage.portals import PortalStore, TokenPair


def installed_client(
    base_url: str,
    portal_id: int,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str = "https://app.example/cb",
) -> httpx.Client:
    """The portal's admin installs the app (consent, code exchange); a client with the access token."""
    tokens = portal_tokens(
        base_url, portal_id, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
    )
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {tokens.access_token}"}, timeout=30
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


def refused_tokens() -> TokenPair:
    """Tokens HubSpot does not honour (a grant it no longer knows): every call of the portal fails."""
    return TokenPair("not-a-token", "not-a-refresh-token", datetime.now(UTC) + timedelta(hours=1))


def install_portals(store: PortalStore, tokens: Mapping[int, TokenPair]) -> None:
    """Store each portal's install, as the receiver's OAuth callback would."""
    for portal, pair in tokens.items():
        asyncio.run(
            store.install(portal, pair, hub_domain=None, app_id=None, scopes=["crm.objects.contacts.read"])
        )


def create_contact_property(base_url: str, access_token: str, name: str) -> None:
    """A custom text property of contacts, made in the token's portal."""
    answer = httpx.post(
        f"{base_url}/crm/v3/properties/contacts",
        headers={"Authorization": f"Bearer {access_token}"},
        json={
            "name": name,
            "label": name,
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
    )
    assert answer.status_code == 201, answer.text
