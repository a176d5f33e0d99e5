"""Full records after webhooks: creations and identity changes are read back from HubSpot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hubsync._runtime.processes import free_port
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import Writer
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.webhooks.test_webhook_harness import SECRET, Harness, running_receiver

pytestmark = pytest.mark.integration
TOKEN = "pat-fetcher"


@pytest.fixture
def setup(kafka_bootstrap_servers: str, database_url: str) -> Iterator[tuple[Harness, ThreadedSandbox]]:
    port = free_port()
    config = SandboxConfig(
        access_token=SecretStr(TOKEN),
        webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot",
        webhook_secret=SecretStr(SECRET),
        webhook_linger_s=0.01,
    )
    with ThreadedSandbox(config) as sandbox:
        settings = {"hubspot_access_token": SecretStr(TOKEN), "hubspot_base_url": sandbox.base_url}
        with running_receiver(kafka_bootstrap_servers, database_url, port=port, settings=settings) as hub:
            yield hub, sandbox


def test_creation_and_identity_changes_are_followed_by_the_full_record(
    setup: tuple[Harness, ThreadedSandbox],
) -> None:
    hub, sandbox = setup
    api = httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    created = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "ana@f.example", "firstname": "Ana"}}
    ).json()
    cid = created["id"]

    def snapshots(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [v for v in values if v["object_id"] == cid and v["change_type"] == "SNAPSHOT"]

    contacts = hub.readers["hubspot_contacts"]
    values = contacts.wait_for(lambda vs: len(snapshots(vs)) >= 1)
    first = snapshots(values)[0]
    assert first["source"] == "WEBHOOK" and first["partial"] is False
    assert first["properties"]["email"] == "ana@f.example" and first["properties"]["firstname"] == "Ana"

    # a job title change is applied as it is; a new email needs the whole record
    ui = Writer("CRM_UI", "userId:3")
    sandbox.state.store.update("contact", int(cid), {"jobtitle": "CTO"}, ui)
    contacts.wait_for(
        lambda vs: any(v["change_type"] == "PROPERTY_CHANGE" and "jobtitle" in v["properties"] for v in vs)
    )
    time.sleep(1.0)  # time for a wrong snapshot to follow, which must not
    assert len(snapshots(hub.events("hubspot_contacts"))) == 1
    sandbox.state.store.update("contact", int(cid), {"email": "ana.new@f.example"}, ui)
    values = contacts.wait_for(lambda vs: len(snapshots(vs)) >= 2)
    latest = snapshots(values)[-1]
    assert latest["properties"]["email"] == "ana.new@f.example"
    assert latest["properties"]["jobtitle"] == "CTO"
    api.close()
