"""End to end: the HubSpot sandbox delivers signed webhook batches to the receiver, which publishes
them to Kafka as Avro change events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.webhooks.test_webhook_harness import SECRET, Harness, running_receiver

pytestmark = pytest.mark.integration
APP_ID = 1160452


@pytest.fixture(scope="module")
def hub(kafka_bootstrap_servers: str, database_url: str) -> Iterator[Harness]:
    with running_receiver(kafka_bootstrap_servers, database_url) as harness:
        yield harness


@pytest.fixture
def sandbox(hub: Harness) -> Iterator[ThreadedSandbox]:
    config = SandboxConfig(webhook_url=hub.url, webhook_secret=SecretStr(SECRET), app_id=APP_ID)
    with ThreadedSandbox(config) as running:
        yield running


def of(values: list[dict[str, Any]], object_id: str) -> list[dict[str, Any]]:
    return [v for v in values if v["object_id"] == object_id]


def test_api_creates_and_ui_edits_arrive_in_kafka(hub: Harness, sandbox: ThreadedSandbox) -> None:
    api = httpx.Client(base_url=sandbox.base_url, headers={"Authorization": "Bearer test"}, timeout=30)
    contact = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "e2e@acme.com", "firstname": "Ann"}}
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    company = api.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "Acme", "domain": "acme.com"}}
    )
    company_id = company.json()["id"]
    edit = api.patch(
        f"/_sandbox/ui/contacts/{contact_id}", json={"properties": {"jobtitle": "CTO"}, "userId": 42}
    )
    assert edit.status_code == 200, edit.text
    assert api.delete(f"/_sandbox/ui/companies/{company_id}").status_code == 204

    # batches are delivered concurrently, so they may arrive in either order: wait for both
    contacts = hub.readers["hubspot_contacts"].wait_for(
        lambda values: {"CREATION", "PROPERTY_CHANGE"} <= {v["change_type"] for v in of(values, contact_id)}
    )
    mine = of(contacts, contact_id)
    created = [v for v in mine if v["change_type"] == "CREATION"]
    assert len(created) == 1
    assert (created[0]["change_source"], created[0]["source_id"]) == ("INTEGRATION", str(APP_ID))
    assert created[0]["portal_id"] == sandbox.config.portal_id
    [title] = [v for v in mine if v["change_type"] == "PROPERTY_CHANGE" and "jobtitle" in v["properties"]]
    assert title["properties"] == {"jobtitle": "CTO"}
    assert (title["change_source"], title["source_id"]) == ("CRM_UI", "userId:42")
    assert title["partial"] is True
    assert set(title["property_timestamps"]) == {"jobtitle"}

    companies = hub.readers["hubspot_companies"].wait_for(
        lambda values: {"CREATION", "DELETION"} <= {v["change_type"] for v in of(values, company_id)}
    )
    kinds = [v["change_type"] for v in of(companies, company_id)]
    assert kinds.count("CREATION") == 1
    assert kinds.count("DELETION") == 1
    assert [v["archived"] for v in of(companies, company_id) if v["change_type"] == "DELETION"] == [True]

    stats = api.get("/_sandbox/webhooks").json()["stats"]
    assert stats["failed_attempts"] == 0  # every batch was acknowledged on its first attempt
    assert stats["delivered_events"] >= 6


def test_merge_and_association_events(hub: Harness, sandbox: ThreadedSandbox) -> None:
    api = httpx.Client(base_url=sandbox.base_url, headers={"Authorization": "Bearer test"}, timeout=30)
    primary = api.post("/_sandbox/ui/contacts", json={"properties": {"email": "p@merge.io"}}).json()["id"]
    merged = api.post("/_sandbox/ui/contacts", json={"properties": {"email": "m@merge.io"}}).json()["id"]
    company = api.post("/_sandbox/ui/companies", json={"properties": {"name": "Merge Inc"}}).json()["id"]
    assert (
        api.put(f"/_sandbox/ui/associations/{primary}/{company}", json={"primary": True}).status_code == 204
    )
    response = api.post(
        "/_sandbox/ui/contacts/merge", json={"primaryObjectId": primary, "objectIdToMerge": merged}
    )
    assert response.status_code == 200, response.text

    def merged_seen(values: list[dict[str, Any]]) -> bool:
        """The merge and the association change (delivered in batches that may arrive in any order)."""
        merge = any(
            v["change_type"] == "MERGE"
            for v in values
            if v["merge"] and v["merge"]["primary_object_id"] == primary
        )
        link = any(
            v["change_type"] == "ASSOCIATION_CHANGE" and v["association"]["to_object_id"] == company
            for v in values
        )
        return merge and link

    contacts = hub.readers["hubspot_contacts"].wait_for(merged_seen)
    [merge] = [
        v for v in contacts if v["change_type"] == "MERGE" and v["merge"]["primary_object_id"] == primary
    ]
    assert merge["merge"]["merged_object_ids"] == [merged]
    assert merge["change_source"] == "CRM_UI"
    links = [
        v["association"]
        for v in contacts
        if v["change_type"] == "ASSOCIATION_CHANGE" and v["association"]["to_object_id"] == company
    ]
    assert links
    assert links[0]["from_object_id"] == primary
    assert links[0]["removed"] is False
