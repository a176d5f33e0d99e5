"""Several portals in one sandbox, as a public app sees them: every portal that installs the app has
its own records and rate limits, its OAuth token reaches only its own data, and the app's webhooks
from every portal arrive at the one URL, each event naming its portal, signed with the app's secret."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hubsync.hubspot_model.signatures import sign_v3
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.testing import wait_for
from tests.sandbox.oauth_support import installed_client

CLIENT_ID = "multi-portal-app"
SECRET = "multi-portal-app-secret"
PORTALS = (62515, 777001)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/hubspot"
    server.shutdown()
    server.server_close()


def _install(base_url: str, portal_id: int) -> httpx.Client:
    """The portal's admin installs the app; a client with the portal's access token."""
    return installed_client(base_url, portal_id, client_id=CLIENT_ID, client_secret=SECRET)


def test_each_portal_has_its_own_records_limits_and_the_apps_webhooks_arrive_at_one_url(
    receiver: str,
) -> None:
    config = SandboxConfig(
        portal_id=PORTALS[0],
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SecretStr(SECRET),
        webhook_url=receiver,
        webhook_secret=SecretStr(SECRET),
    )
    with ThreadedSandbox(config) as sandbox:
        a, b = (_install(sandbox.base_url, portal) for portal in PORTALS)
        # the same e-mail address in two portals: two records, each portal sees only its own
        for client in (a, b):
            created = client.post("/crm/v3/objects/contacts", json={"properties": {"email": "same@acme.com"}})
            assert created.status_code == 201, created.text
        assert (
            a.post("/crm/v3/objects/contacts", json={"properties": {"email": "only-a@acme.com"}}).status_code
            == 201
        )
        emails = {
            portal: sorted(
                r["properties"]["email"]
                for r in client.get("/crm/v3/objects/contacts", params={"properties": "email"}).json()[
                    "results"
                ]
            )
            for portal, client in zip(PORTALS, (a, b), strict=True)
        }
        assert emails == {PORTALS[0]: ["only-a@acme.com", "same@acme.com"], PORTALS[1]: ["same@acme.com"]}
        assert sandbox.portal_state(PORTALS[1]).store is not sandbox.state.store

        # rate limits per portal: portal B exhausted, portal A unaffected
        control = httpx.Client(base_url=sandbox.base_url)
        assert (
            control.put(
                "/_sandbox/rate-limits", params={"portal": str(PORTALS[1])}, json={"burst_limit": 1}
            ).status_code
            == 200
        )
        statuses = [b.get("/crm/v3/objects/contacts").status_code for _ in range(3)]
        assert 429 in statuses
        assert a.get("/crm/v3/objects/contacts").status_code == 200

        # one URL, events of both portals, each naming its portal, signed with the app's secret
        def creations() -> dict[int, int]:
            seen: dict[int, int] = {}
            for headers, body in list(_Receiver.received):
                signature = sign_v3(
                    SECRET, "POST", receiver, body, int(headers["X-HubSpot-Request-Timestamp"])
                )
                assert headers["X-HubSpot-Signature-v3"] == signature
                for event in json.loads(body):
                    if event["subscriptionType"] == "contact.creation":
                        assert event["appId"] == config.app_id
                        seen[event["portalId"]] = seen.get(event["portalId"], 0) + 1
            return seen

        wait_for(
            lambda: creations() == {PORTALS[0]: 2, PORTALS[1]: 1},
            timeout=30,
            what=lambda: f"creations {creations()}",
        )


def test_a_token_of_one_portal_never_reaches_another(receiver: str) -> None:
    config = SandboxConfig(oauth_client_id=CLIENT_ID, oauth_client_secret=SecretStr(SECRET))
    with ThreadedSandbox(config) as sandbox:
        a, b = (_install(sandbox.base_url, portal) for portal in PORTALS)
        record = a.post("/crm/v3/objects/contacts", json={"properties": {"email": "x@acme.com"}}).json()["id"]
        assert a.get(f"/crm/v3/objects/contacts/{record}").status_code == 200
        assert b.get(f"/crm/v3/objects/contacts/{record}").status_code == 404
        assert (
            b.patch(f"/crm/v3/objects/contacts/{record}", json={"properties": {"firstname": "B"}}).status_code
            == 404
        )
        status = httpx.get(f"{sandbox.base_url}/_sandbox/status", params={"portal": str(PORTALS[1])}).json()
        assert status != httpx.get(f"{sandbox.base_url}/_sandbox/status").json()
