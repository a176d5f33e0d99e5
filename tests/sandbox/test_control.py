"""The assembled sandbox (edge middlewares + control API + webhooks) over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hubsync.hubspot_model.signatures import verify_v3
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.testing import wait_for

TOKEN = "pat-test-token"
SECRET = "webhook-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Receiver(BaseHTTPRequestHandler):
    deliveries: list[tuple[str, dict[str, str], bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.deliveries.append((self.path, dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.deliveries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(receiver: str) -> Iterator[tuple[ThreadedSandbox, httpx.Client]]:
    config = SandboxConfig(
        access_token=SecretStr(TOKEN),
        webhook_url=receiver,
        webhook_secret=SecretStr(SECRET),
        webhook_linger_s=0.01,
    )
    with ThreadedSandbox(config) as box, httpx.Client(base_url=box.base_url, timeout=30) as http:
        yield box, http


def received_events(
    done: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """The webhook events delivered so far, once ``done`` says they are complete."""

    def delivered() -> tuple[list[dict[str, Any]]] | None:
        events = [e for _, _, body in list(Receiver.deliveries) for e in json.loads(body)]
        return (events,) if done(events) else None

    (events,) = wait_for(
        delivered,
        timeout=timeout,
        interval=0.02,
        what=lambda: f"the webhook events ({len(Receiver.deliveries)} deliveries so far)",
    )
    return events


def with_types(*types: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda events: set(types) <= {e["subscriptionType"] for e in events}


def test_api_and_ui_writes_reach_the_webhook_with_their_writer(
    sandbox: tuple[ThreadedSandbox, httpx.Client],
) -> None:
    box, http = sandbox
    created = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@x.io"}}, headers=AUTH)
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    edited = http.patch(
        f"/_sandbox/ui/contacts/{contact_id}", json={"properties": {"jobtitle": "CFO"}, "userId": 7}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["properties"]["jobtitle"] == "CFO"

    events = received_events(with_types("contact.creation", "contact.propertyChange"))
    by_type = {e["subscriptionType"]: e for e in events}
    assert by_type["contact.creation"]["changeSource"] == "INTEGRATION"
    assert by_type["contact.creation"]["sourceId"] == str(box.config.app_id)
    change = by_type["contact.propertyChange"]
    assert (change["changeSource"], change["sourceId"]) == ("CRM_UI", "userId:7")
    assert (change["propertyName"], change["propertyValue"]) == ("jobtitle", "CFO")
    assert box.config.webhook_url is not None
    origin = box.config.webhook_url.removesuffix("/hooks")
    for path, headers, body in Receiver.deliveries:
        uri = origin + path  # the URL the sandbox called, as the receiver saw it
        check = verify_v3(
            SECRET,
            "POST",
            uri,
            body,
            headers["X-HubSpot-Request-Timestamp"],
            headers["X-HubSpot-Signature-v3"],
        )
        assert check.ok, check.detail


def test_ui_merge_delete_restore_and_gdpr(sandbox: tuple[ThreadedSandbox, httpx.Client]) -> None:
    _, http = sandbox
    ids = [
        http.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": f"p{i}@x.io"}}, headers=AUTH
        ).json()["id"]
        for i in range(3)
    ]
    merged = http.post(
        "/_sandbox/ui/contacts/merge", json={"primaryObjectId": ids[0], "objectIdToMerge": ids[1]}
    )
    assert merged.status_code == 200, merged.text
    assert http.delete(f"/_sandbox/ui/contacts/{ids[2]}").status_code == 204
    assert http.get(f"/crm/v3/objects/contacts/{ids[2]}", headers=AUTH).status_code == 404
    assert http.post(f"/_sandbox/ui/contacts/{ids[2]}/restore").status_code == 200
    assert http.post(f"/_sandbox/ui/contacts/{ids[2]}/gdpr-delete").status_code == 204
    wanted = ("contact.merge", "contact.deletion", "contact.restore", "contact.privacyDeletion")
    kinds = {e["subscriptionType"] for e in received_events(with_types(*wanted))}
    assert set(wanted) <= kinds


def test_auth_faults_and_rate_limits_are_controllable(sandbox: tuple[ThreadedSandbox, httpx.Client]) -> None:
    _, http = sandbox
    assert http.get("/crm/v3/objects/contacts").status_code == 401
    assert http.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer wrong"}).status_code == 401

    assert http.post("/_sandbox/faults/fail-next", json={"n": 2, "status": 503}).status_code == 200
    statuses = [http.get("/crm/v3/objects/contacts", headers=AUTH).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert http.get("/_sandbox/status").status_code == 200  # the control API is never faulted

    limits = http.put("/_sandbox/rate-limits", json={"burst_limit": 3})
    assert limits.status_code == 200, limits.text
    http.post("/_sandbox/reset")
    answers = [http.get("/crm/v3/objects/contacts", headers=AUTH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[3].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert http.put("/_sandbox/rate-limits", json={"burst_limit": -1}).status_code == 400
    assert http.put("/_sandbox/rate-limits", json={"nonsense": 1}).status_code == 400


def test_request_log_and_validation_rules(sandbox: tuple[ThreadedSandbox, httpx.Client]) -> None:
    _, http = sandbox
    rule = {
        "object_type": "contact",
        "property": "jobtitle",
        "kind": "max_length",
        "max_length": 5,
        "message": "Job title is too long",
    }
    assert http.post("/_sandbox/validation-rules", json=rule).status_code == 201
    rejected = http.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "r@x.io", "jobtitle": "Chief Officer"}},
        headers=AUTH,
    )
    assert rejected.status_code == 400
    assert rejected.json()["category"] == "VALIDATION_ERROR"
    assert "Job title is too long" in rejected.json()["message"]
    assert http.post("/_sandbox/validation-rules", json={"kind": "regex"}).status_code == 400

    log = http.get("/_sandbox/requests", params={"path_prefix": "/crm/v3/objects/contacts"}).json()["results"]
    assert [(e["method"], e["status"]) for e in log] == [("POST", 400)]
    assert http.delete("/_sandbox/validation-rules").status_code == 204
    assert http.delete("/_sandbox/requests").status_code == 204
    assert http.get("/_sandbox/requests").json()["results"] == []


def test_bad_control_input_is_a_clear_4xx(sandbox: tuple[ThreadedSandbox, httpx.Client]) -> None:
    _, http = sandbox
    assert http.post("/_sandbox/seed", content=b"{not json").status_code == 400
    assert http.post("/_sandbox/seed", json={"contacts": "many"}).status_code == 400
    assert http.put("/_sandbox/faults", json={"error_rate": 7}).status_code == 400
    assert http.post("/_sandbox/ui/deals", json={}).status_code == 404
    assert http.post("/_sandbox/ui/contacts/merge", json={}).status_code == 400
