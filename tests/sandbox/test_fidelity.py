"""Behaviours of real HubSpot that widely used clients depend on, held by the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox

TOKEN = "pat-fidelity"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with (
        ThreadedSandbox(SandboxConfig(access_token=SecretStr(TOKEN))) as box,
        httpx.Client(base_url=box.base_url, timeout=30, headers=AUTH) as client,
    ):
        yield client


def test_the_ui_sets_secondary_emails_the_api_may_not(http: httpx.Client) -> None:
    created = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "ada@example.com"}})
    contact_id = created.json()["id"]
    refused = http.patch(
        f"/crm/v3/objects/contacts/{contact_id}",
        json={"properties": {"hs_additional_emails": "ada@work.example"}},
    )
    assert refused.status_code == 400 and "READ_ONLY_VALUE" in refused.text
    edited = http.patch(
        f"/_sandbox/ui/contacts/{contact_id}",
        json={"properties": {"hs_additional_emails": "ada@work.example"}},
    )
    assert edited.status_code == 200, edited.text
    read = http.get(f"/crm/v3/objects/contacts/{contact_id}", params={"properties": "hs_additional_emails"})
    assert read.json()["properties"]["hs_additional_emails"] == "ada@work.example"
    # the other address now belongs to this contact: the API refuses it for a new one
    clash = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "ada@work.example"}})
    assert clash.status_code == 409


def test_the_ui_cannot_set_a_calculated_property(http: httpx.Client) -> None:
    created = http.post("/_sandbox/ui/contacts", json={"properties": {"email": "bo@example.com"}})
    assert created.status_code == 200, created.text
    contact_id = created.json()["id"]
    refused = http.patch(f"/_sandbox/ui/contacts/{contact_id}", json={"properties": {"hs_object_id": "7"}})
    assert refused.status_code == 400 and "READ_ONLY_VALUE" in refused.text


def _iso_ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_seeded_records_carry_spread_creation_and_modification_times() -> None:
    with (
        ThreadedSandbox(SandboxConfig(access_token=SecretStr(TOKEN)), seed=SeedSpec(contacts=1_500)) as box,
        httpx.Client(base_url=box.base_url, timeout=30, headers=AUTH) as http,
    ):
        now = box.state.store.clock()
        created: list[int] = []
        modified: list[int] = []
        after: str | None = None
        while True:
            params = {"limit": "100", "properties": "createdate,lastmodifieddate"}
            if after:
                params["after"] = after
            page = http.get("/crm/v3/objects/contacts", params=params).json()
            for record in page["results"]:
                c, m = (
                    _iso_ms(record["properties"]["createdate"]),
                    _iso_ms(record["properties"]["lastmodifieddate"]),
                )
                assert c <= m <= now - 60_000
                assert now - c <= 366 * 24 * 3600 * 1000
                created.append(c)
                modified.append(m)
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        assert len(created) == 1_500
        # a real portal's spread: practically every record has its own times
        assert len(set(created)) > 1_450 and len(set(modified)) > 1_450
        # so an incremental client's search window by modification time selects a part of them
        middle = sorted(modified)[750]
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "LT", "value": str(middle)}]}
            ],
            "limit": 1,
        }
        assert http.post("/crm/v3/objects/contacts/search", json=body).json()["total"] == 750


def test_associations_batch_read_takes_a_thousand_inputs(http: httpx.Client) -> None:
    contact = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "cy@example.com"}}).json()[
        "id"
    ]
    company = http.post("/crm/v3/objects/companies", json={"properties": {"name": "Cy Co"}}).json()["id"]
    linked = http.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")
    assert linked.status_code == 200, linked.text
    inputs = [{"id": contact}] + [{"id": str(10_000_000 + n)} for n in range(999)]
    read = http.post("/crm/v4/associations/contacts/companies/batch/read", json={"inputs": inputs})
    assert read.status_code == 207, read.text
    body = read.json()
    assert [r["from"]["id"] for r in body["results"]] == [contact]
    assert body["numErrors"] == 999
    too_many = http.post(
        "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [*inputs, {"id": contact}]}
    )
    assert too_many.status_code == 400 and "1000" in too_many.text
    # the other v4 batch endpoints keep HubSpot's 100
    create = [{"from": {"id": contact}, "to": {"id": company}, "types": []}] * 101
    assert (
        http.post("/crm/v4/associations/contacts/companies/batch/create", json={"inputs": create}).status_code
        == 400
    )


def test_schemas_answer_an_empty_list_without_custom_objects(http: httpx.Client) -> None:
    answer = http.get("/crm/v3/schemas")
    assert answer.status_code == 200 and answer.json() == {"results": []}


def test_legacy_v2_property_lists_answer(http: httpx.Client) -> None:
    for object_type, expected in (("contacts", "email"), ("companies", "domain")):
        answer = http.get(f"/properties/v2/{object_type}/properties")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert isinstance(body, list)
        named = {p["name"]: p for p in body}
        assert expected in named and named[expected]["hubspotDefined"] is True
        assert {"name", "label", "groupName", "type", "fieldType", "options", "readOnlyValue"} <= set(
            named[expected]
        )
    one = http.get("/properties/v2/contacts/properties/named/lifecyclestage").json()
    assert one["type"] == "enumeration" and any(o["value"] == "lead" for o in one["options"])
    assert http.get("/properties/v2/deals/properties").status_code == 404


@pytest.mark.parametrize(
    ("object_type", "expected"),
    [
        ("deals", "dealstage"),
        ("tickets", "hs_pipeline_stage"),
        ("line_items", "quantity"),
        ("products", "price"),
        ("quotes", "hs_title"),
        ("calls", "hs_call_body"),
        ("emails", "hs_email_subject"),
        ("meetings", "hs_meeting_title"),
        ("notes", "hs_note_body"),
        ("tasks", "hs_task_status"),
        ("0-3", "dealname"),
    ],
)
def test_v3_properties_answer_for_every_standard_object(
    http: httpx.Client, object_type: str, expected: str
) -> None:
    answer = http.get(f"/crm/v3/properties/{object_type}")
    assert answer.status_code == 200, answer.text
    names = {p["name"] for p in answer.json()["results"]}
    assert {expected, "hs_object_id", "hs_lastmodifieddate"} <= names
    one = http.get(f"/crm/v3/properties/{object_type}/{expected}")
    assert one.status_code == 200 and one.json()["name"] == expected
    assert http.get(f"/crm/v3/properties/{object_type}/no_such_property").status_code == 404
    groups = http.get(f"/crm/v3/properties/{object_type}/groups").json()["results"]
    assert groups and {p["groupName"] for p in answer.json()["results"]} <= {g["name"] for g in groups}


def test_a_dropped_answer_was_applied_and_the_log_says_so(http: httpx.Client) -> None:
    control = httpx.Client(base_url=f"{http.base_url}/_sandbox", timeout=30)
    control.put("/requests", json={"bodies": True}).raise_for_status()
    control.post("/faults/drop-next", json={"n": 1}).raise_for_status()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/crm/v3/objects/contacts", json={"properties": {"email": "drop@example.com"}})
    # HubSpot applied it: the client that retries blindly would make a second record
    found = http.post(
        "/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": "drop@example.com"}]}
            ]
        },
    ).json()
    assert found["total"] == 1
    record_id = found["results"][0]["id"]
    (entry,) = control.get(
        "/requests", params={"path_prefix": "/crm/v3/objects/contacts", "method": "POST"}
    ).json()["results"][:1]
    assert entry["dropped"] is True and entry["status"] == 201
    assert entry["requestBody"] == {"properties": {"email": "drop@example.com"}}
    assert entry["responseBody"]["id"] == record_id and entry["recordIds"] == [record_id]
    # the next request is answered again
    assert http.get(f"/crm/v3/objects/contacts/{record_id}").status_code == 200


def test_bodies_are_kept_only_when_asked(http: httpx.Client) -> None:
    control = httpx.Client(base_url=f"{http.base_url}/_sandbox", timeout=30)
    http.post("/crm/v3/objects/contacts", json={"properties": {"email": "quiet@example.com"}})
    (entry,) = control.get("/requests", params={"method": "POST"}).json()["results"]
    assert entry["requestBody"] is None and entry["recordIds"] == [] and entry["dropped"] is False
    assert control.put("/requests", json={"bodies": "yes"}).status_code == 400


@pytest.mark.parametrize(
    ("plural", "type_id", "prop"), [("contacts", 449, "email"), ("companies", 450, "name")]
)
def test_same_type_associations_work(http: httpx.Client, plural: str, type_id: int, prop: str) -> None:
    def make(n: int) -> str:
        value = f"p{n}@example.com" if prop == "email" else f"Co {n}"
        created = http.post(f"/crm/v3/objects/{plural}", json={"properties": {prop: value}})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    a, b, c = make(1), make(2), make(3)
    linked = http.put(f"/crm/v4/objects/{plural}/{a}/associations/default/{plural}/{b}")
    assert linked.status_code == 200, linked.text
    assert linked.json()["results"][0]["associationSpec"]["associationTypeId"] == type_id
    for one, other in ((a, b), (b, a)):  # both directions
        page = http.get(f"/crm/v4/objects/{plural}/{one}/associations/{plural}").json()["results"]
        assert page == [
            {"toObjectId": other, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id}]}
        ]
    labeled = http.put(
        f"/crm/v4/objects/{plural}/{a}/associations/{plural}/{c}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    )
    assert labeled.status_code == 201, labeled.text
    wrong = http.put(
        f"/crm/v4/objects/{plural}/{a}/associations/{plural}/{c}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    )
    assert wrong.status_code == 400
    assert http.put(f"/crm/v4/objects/{plural}/{a}/associations/default/{plural}/{a}").status_code == 400
    read = http.post(
        f"/crm/v4/associations/{plural}/{plural}/batch/read", json={"inputs": [{"id": a}]}
    ).json()
    assert sorted(t["toObjectId"] for t in read["results"][0]["to"]) == sorted([b, c])
    assert http.delete(f"/crm/v4/objects/{plural}/{a}/associations/{plural}/{b}").status_code == 204
    assert [
        t["toObjectId"]
        for t in http.get(f"/crm/v4/objects/{plural}/{b}/associations/{plural}").json()["results"]
    ] == []
    # a merge moves the merged-away record's associations to the survivor
    merged = http.post(f"/crm/v3/objects/{plural}/merge", json={"primaryObjectId": b, "objectIdToMerge": a})
    assert merged.status_code == 200, merged.text
    assert [
        t["toObjectId"]
        for t in http.get(f"/crm/v4/objects/{plural}/{b}/associations/{plural}").json()["results"]
    ] == [c]
