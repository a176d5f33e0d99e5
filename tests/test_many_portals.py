"""One ``hubsync run`` serving several HubSpot portals at once (the public app, docs/portals.md).

Against the sandbox's HubSpot (several portals, OAuth, app-level webhooks signed with the app's
client secret), real Kafka and PostgreSQL: portals install through the running receiver; their
records, with the same e-mail addresses, stay apart (no cross-portal duplicate, no leak); one
webhook batch mixing portals lands in the right places; platform-side changes are pushed to the
right portal only; a revoked portal stops while the others go on.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from hubsync._runtime.processes import free_port
from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.oauth.runtime import INSTALLED_PORTALS_TTL_S, portal_store
from hubsync.hubspot_model.signatures import v3_headers
from hubsync.platform import create_record
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings, scoped_conninfo
from hubsync.storage.token_cipher import new_key
from tests.ingest.worker_harness import TopicDrain, prepare_worker
from tests.sandbox.oauth_support import installed_client
from tests.test_runner import RunProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CLIENT_ID = "hubsync-many-portals"
CLIENT_SECRET = "many-portals-app-secret"
A, B, C = 62515, 777001, 888002


@dataclass
class Deployment:
    sandbox: ThreadedSandbox
    process: RunProcess
    port: int

    @property
    def url(self) -> str:
        return self.process.env["DATABASE_URL"]

    def install(self, portal: int) -> None:
        """The portal's admin opens /oauth/install and consents for ``portal`` at HubSpot."""
        start = httpx.get(f"http://127.0.0.1:{self.port}/oauth/install", timeout=30)
        assert start.status_code == 302, start.text
        consent = httpx.URL(start.headers["location"]).copy_add_param("portal_id", str(portal))
        done = httpx.get(consent, follow_redirects=True, timeout=30)
        assert done.status_code == 200 and f"installed for portal {portal}" in done.text, done.text

    def api(self, portal: int) -> httpx.Client:
        """A client with a token of ``portal`` (the test's own grant, as another app would have)."""
        return installed_client(
            self.sandbox.base_url, portal, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()

    def post_webhooks(self, events: list[dict[str, Any]]) -> httpx.Response:
        body = json.dumps(events).encode()
        uri = f"http://127.0.0.1:{self.port}/webhooks/hubspot"
        return httpx.post(uri, content=body, headers=v3_headers(CLIENT_SECRET, uri, body), timeout=30)


@pytest.fixture
def deployment(kafka_bootstrap_servers: str, fresh_database_url: str) -> Iterator[Deployment]:
    port = free_port()
    config = SandboxConfig(
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SecretStr(CLIENT_SECRET),
        webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot",
        webhook_secret=SecretStr(CLIENT_SECRET),
    )
    with ThreadedSandbox(config) as sandbox:
        setup = prepare_worker(
            kafka_bootstrap_servers,
            fresh_database_url,
            partitions=3,
            HUBSPOT_BASE_URL=sandbox.base_url,
            HUBSPOT_CLIENT_ID=CLIENT_ID,
            HUBSPOT_CLIENT_SECRET=CLIENT_SECRET,
            HUBSPOT_OAUTH_REDIRECT_URI=f"http://127.0.0.1:{port}/oauth/callback",
            HUBSPOT_AUTHORIZE_URL=f"{sandbox.base_url}/oauth/authorize",
            HUBSPOT_WEBHOOK_SECRET=CLIENT_SECRET,
            HUBSYNC_TOKEN_KEYS=new_key("k1"),
            HUBSYNC_POLL_SETTLE_MS="0",
        )
        process = RunProcess(
            setup.env, name="run", args=("--webhook-port", str(port), "--poll-interval", "1")
        )
        try:
            process.start()
            process.wait_until(
                lambda: "webhook receiver on http://" in process.output(), "the receiver", timeout=60
            )
            yield Deployment(sandbox, process, port)
        finally:
            process.close()


def _contacts(d: Deployment, email: str) -> dict[int, tuple[str, str | None]]:
    """Per portal, the (HubSpot id, first name) of the platform contact with ``email``."""
    return {
        int(portal): (hubspot_id, first)
        for portal, hubspot_id, first in d.rows(
            "SELECT portal_id, hubspot_id, first_name FROM hubsync.contacts_all WHERE email = %s", (email,)
        )
    }


def test_portals_stay_apart_a_mixed_batch_lands_right_pushes_go_to_their_portal_and_a_revoked_one_stops(
    deployment: Deployment,
) -> None:
    d = deployment
    for portal in (A, B, C):
        d.install(portal)
    apis = {portal: d.api(portal) for portal in (A, B, C)}

    # the same e-mail address in every portal: one platform record per portal, no duplicate across them
    email = f"same-{uuid.uuid4().hex[:6]}@acme.com"
    names = {A: "Ann", B: "Bea", C: "Cid"}
    ids: dict[int, str] = {}
    for portal, api in apis.items():
        made = api.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": email, "firstname": names[portal]}}
        )
        assert made.status_code == 201, made.text
        ids[portal] = made.json()["id"]
    d.process.wait_until(
        lambda: {p: first for p, (_, first) in _contacts(d, email).items()} == names,
        "each portal's contact in its own portal",
        timeout=60,
    )
    assert {p: hid for p, (hid, _) in _contacts(d, email).items()} == ids
    assert d.rows("SELECT count(*) FROM hubsync.potential_duplicates_all") == [(0,)]
    # crm.contacts: each portal's record once, with its portal, none with another portal's values
    crm_topic = d.process.env["HUBSYNC_TOPICS__CRM_CONTACTS"]
    codec, schema = SingleObjectCodec(SchemaRepository()), SchemaRepository().current("crm_contact")
    with TopicDrain(d.process.env["KAFKA_BOOTSTRAP_SERVERS"], crm_topic, 3) as crm:

        def published() -> dict[int, str | None]:
            values = [codec.decode(crm_topic, schema, m.value() or b"") for m in crm.drain()]
            return {v["portal_id"]: v["first_name"] for v in values if v["email"] == email}

        d.process.wait_until(lambda: published() == names, "each portal's record on crm.contacts", timeout=60)

    # one webhook batch with events of two portals (and one of a portal that never installed)
    now = int(time.time() * 1000)

    def change(portal: int, object_id: str, value: str, event_id: int) -> dict[str, Any]:
        return {
            "eventId": event_id,
            "subscriptionId": 1,
            "portalId": portal,
            "appId": 1,
            "occurredAt": now,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "propertyName": "lastname",
            "propertyValue": value,
            "changeSource": "CRM_UI",
        }

    answer = d.post_webhooks(
        [change(A, ids[A], "Alpha", 1), change(B, ids[B], "Bravo", 2), change(999999, ids[A], "Intruder", 3)]
    )
    assert answer.status_code == 200, answer.text
    d.process.wait_until(
        lambda: (
            dict(d.rows("SELECT portal_id, last_name FROM hubsync.contacts_all WHERE email = %s", (email,)))
            == {A: "Alpha", B: "Bravo", C: None}
        ),
        "the mixed batch applied in each event's own portal",
        timeout=60,
    )

    # a platform-side record of portal A is pushed to portal A, and only there
    pushed = f"pushed-{uuid.uuid4().hex[:6]}@acme.com"
    with psycopg.connect(scoped_conninfo(d.url, A)) as conn:
        create_record(conn, "contact", {"email": pushed, "firstname": "Pia"}, source="platform", manual=True)
        conn.commit()

    def found(portal: int, address: str) -> int:
        body = {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": address}]}]
        }
        return int(apis[portal].post("/crm/v3/objects/contacts/search", json=body).json()["total"])

    d.process.wait_until(lambda: found(A, pushed) == 1, "the platform record in portal A", timeout=60)
    assert (found(B, pushed), found(C, pushed)) == (0, 0)

    # portal B uninstalls the app in HubSpot: B stops, with the reason; A and C go on
    assert _revoke_app_grant(d, B)
    apis[B] = d.api(B)  # the test's own token of B expired with the rest
    d.process.wait_until(
        lambda: (
            d.rows("SELECT status, status_reason FROM hubsync.portals WHERE portal_id = %s", (B,))[0][0]
            == "revoked"
        ),
        "portal B marked revoked (by its poller's refresh)",
        timeout=60,
    )
    (reason,) = d.rows("SELECT status_reason FROM hubsync.portals WHERE portal_id = %s", (B,))[0]
    assert "BAD_REFRESH_TOKEN" in reason
    time.sleep(INSTALLED_PORTALS_TTL_S + 1)  # the receiver's list of active portals is read again
    later = f"later-{uuid.uuid4().hex[:6]}@acme.com"
    for portal in (A, B, C):
        made = apis[portal].post("/crm/v3/objects/contacts", json={"properties": {"email": later}})
        assert made.status_code == 201, made.text
    d.process.wait_until(
        lambda: (
            sorted(
                p for (p,) in d.rows("SELECT portal_id FROM hubsync.contacts_all WHERE email = %s", (later,))
            )
            == [A, C]
        ),
        "the other portals' new contacts",
        timeout=60,
    )
    time.sleep(3)  # B's webhooks are dropped by the receiver, its poller is not run
    assert d.rows(
        "SELECT count(*) FROM hubsync.contacts_all WHERE portal_id = %s AND email = %s", (B, later)
    ) == [(0,)]

    # a platform-side change of the revoked portal is not pushed: it goes to the DLQ with the reason
    with psycopg.connect(scoped_conninfo(d.url, B)) as conn:
        create_record(
            conn,
            "contact",
            {"email": f"parked-{uuid.uuid4().hex[:6]}@acme.com"},
            source="platform",
            manual=True,
        )
        conn.commit()
    with TopicDrain(d.process.env["KAFKA_BOOTSTRAP_SERVERS"], d.process.env["HUBSYNC_TOPICS__DLQ"], 3) as dlq:
        d.process.wait_until(
            lambda: any(b"portal 777001 is revoked" in (m.value() or b"") for m in dlq.drain()),
            "the revoked portal's change in the DLQ",
            timeout=60,
        )
    d.process.check_alive()


def _revoke_app_grant(d: Deployment, portal: int) -> bool:
    """Delete the deployment's refresh token of ``portal`` at HubSpot and expire its access tokens."""
    settings = Settings(
        database_url=SecretStr(d.url),
        hubspot_client_id=CLIENT_ID,
        hubspot_client_secret=SecretStr(CLIENT_SECRET),
        token_keys=SecretStr(d.process.env["HUBSYNC_TOKEN_KEYS"]),
    )
    refresh = asyncio.run(portal_store(settings).tokens(portal)).refresh_token
    deleted = httpx.delete(f"{d.sandbox.base_url}/oauth/v1/refresh-tokens/{refresh}")
    httpx.post(f"{d.sandbox.base_url}/_sandbox/oauth/expire", params={"portal": str(portal)})
    return deleted.status_code == 204
