"""CRM v3 object endpoints against the real sandbox server on a loopback port (httpx client, no mocks)."""

from __future__ import annotations

import pytest

from hubsync.sandbox.properties import ValidationRule
from tests.sandbox.live import APP_ID, ISO_MS, LiveSandbox, assert_error


def test_create_get_update_archive_contact(sandbox: LiveSandbox) -> None:
    created = sandbox.create("contacts", email="Ada@Example.com", firstname="Ada")
    assert created["id"] == "1" and created["archived"] is False
    assert ISO_MS.match(created["createdAt"]) and ISO_MS.match(created["updatedAt"])
    assert created["properties"]["email"] == "ada@example.com"
    assert created["properties"]["hs_object_id"] == "1"
    assert ISO_MS.match(created["properties"]["lastmodifieddate"])

    got = sandbox.http.get("/crm/v3/objects/contacts/1", params={"properties": "firstname,email"}).json()
    assert got["properties"]["firstname"] == "Ada"
    assert set(got["properties"]) == {"firstname", "email", "hs_object_id", "createdate", "lastmodifieddate"}

    r = sandbox.http.patch(
        "/crm/v3/objects/contacts/1", json={"properties": {"lastname": "Lovelace", "firstname": ""}}
    )
    assert r.status_code == 200
    assert r.json()["properties"]["lastname"] == "Lovelace" and "firstname" not in r.json()["properties"]
    assert r.json()["updatedAt"] > created["updatedAt"]

    by_email = sandbox.http.get("/crm/v3/objects/contacts/ADA@example.com", params={"idProperty": "email"})
    assert by_email.status_code == 200 and by_email.json()["id"] == "1"

    assert sandbox.http.delete("/crm/v3/objects/contacts/1").status_code == 204
    assert_error(sandbox.http.get("/crm/v3/objects/contacts/1"), 404, "OBJECT_NOT_FOUND")
    archived = sandbox.http.get("/crm/v3/objects/contacts/1", params={"archived": "true"}).json()
    assert archived["archived"] is True and ISO_MS.match(archived["archivedAt"])
    assert sandbox.http.delete("/crm/v3/objects/contacts/999").status_code == 204


def test_list_paging_and_archived(sandbox: LiveSandbox) -> None:
    for i in range(25):
        sandbox.create("contacts", email=f"p{i}@example.com")
    sandbox.http.delete("/crm/v3/objects/contacts/5")
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": "10", **({"after": after} if after else {})}
        body = sandbox.http.get("/crm/v3/objects/contacts", params=params).json()
        seen += [r["id"] for r in body["results"]]
        pages += 1
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].endswith(after)
    assert pages == 3 and len(seen) == 24 and "5" not in seen
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)
    archived = sandbox.http.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()
    assert [r["id"] for r in archived["results"]] == ["5"]
    assert_error(
        sandbox.http.get("/crm/v3/objects/contacts", params={"limit": "101"}), 400, "VALIDATION_ERROR"
    )


def test_duplicate_email_conflict_names_existing_id(sandbox: LiveSandbox) -> None:
    first = sandbox.create("contacts", email="dup@example.com")
    r = sandbox.http.post("/crm/v3/objects/contacts", json={"properties": {"email": "DUP@example.com"}})
    body = assert_error(r, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {first['id']}"
    assert body["errors"][0]["in"] == "email"
    other = sandbox.create("contacts", email="other@example.com")
    r = sandbox.http.patch(
        f"/crm/v3/objects/contacts/{other['id']}", json={"properties": {"email": "dup@example.com"}}
    )
    assert_error(r, 409, "CONFLICT")
    assert sandbox.store.count("contact") == 2


def test_companies_may_share_a_domain(sandbox: LiveSandbox) -> None:
    a = sandbox.create("companies", name="Acme", domain="acme.com")
    b = sandbox.create("companies", name="Acme Inc", domain="acme.com")
    assert a["id"] != b["id"] and sandbox.store.count("company") == 2


def test_validation_errors_have_hubspot_shape(sandbox: LiveSandbox) -> None:
    r = sandbox.http.post(
        "/crm/v3/objects/contacts",
        json={
            "properties": {
                "email": "not-an-email",
                "lifecyclestage": "nope",
                "made_up": "x",
                "lastmodifieddate": "1",
            }
        },
    )
    body = assert_error(r, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid: [")
    codes = {e["in"]: e["code"] for e in body["errors"]}
    assert codes == {
        "email": "INVALID_EMAIL",
        "lifecyclestage": "INVALID_OPTION",
        "made_up": "PROPERTY_DOESNT_EXIST",
        "lastmodifieddate": "READ_ONLY_VALUE",
    }
    assert sandbox.store.count("contact") == 0

    sandbox.state.registry.add_rule(
        ValidationRule(
            "contact",
            "firstname",
            "regex",
            pattern=r"[A-Za-z ]+",
            message="Enter only letters",
            code="INVALID_ALPHA",
        )
    )
    r = sandbox.http.post("/crm/v3/objects/contacts", json={"properties": {"firstname": "R2D2"}})
    body = assert_error(r, 400, "VALIDATION_ERROR")
    assert body["errors"] == [
        {
            "message": "Enter only letters",
            "code": "INVALID_ALPHA",
            "in": "firstname",
            "context": {"propertyName": ["firstname"]},
        }
    ]


def test_bad_requests_are_json(sandbox: LiveSandbox) -> None:
    r = sandbox.http.post(
        "/crm/v3/objects/contacts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "Invalid input JSON" in assert_error(r, 400, "VALIDATION_ERROR")["message"]
    assert_error(sandbox.http.post("/crm/v3/objects/contacts", json=[1, 2]), 400, "VALIDATION_ERROR")
    assert_error(sandbox.http.get("/crm/v3/nothing/here"), 404, "OBJECT_NOT_FOUND")
    assert_error(sandbox.http.put("/crm/v3/objects/contacts/1"), 405, "METHOD_NOT_ALLOWED")
    assert_error(sandbox.http.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")


def test_merge_resolves_merged_id_to_primary(sandbox: LiveSandbox) -> None:
    a = sandbox.create("contacts", email="a@example.com", firstname="A")
    b = sandbox.create("contacts", email="b@example.com", lastname="B")
    r = sandbox.http.post(
        "/crm/v3/objects/contacts/merge", json={"primaryObjectId": a["id"], "objectIdToMerge": b["id"]}
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["id"] == a["id"]
    assert merged["properties"]["hs_merged_object_ids"] == b["id"]
    assert merged["properties"]["lastname"] == "B" and merged["properties"]["email"] == "a@example.com"
    assert merged["properties"]["hs_additional_emails"] == "b@example.com"
    via_old = sandbox.http.get(f"/crm/v3/objects/contacts/{b['id']}").json()
    assert via_old["id"] == a["id"]
    again = sandbox.http.post(
        "/crm/v3/objects/contacts/merge", json={"primaryObjectId": a["id"], "objectIdToMerge": b["id"]}
    )
    assert_error(again, 400, "VALIDATION_ERROR")
    assert_error(
        sandbox.http.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@example.com"}}),
        409,
        "CONFLICT",
    )
    events = [e for e in sandbox.sink.events if e.kind == "merge"]
    assert len(events) == 1 and events[0].merged_object_ids == (int(b["id"]),)


def test_gdpr_delete_by_email(sandbox: LiveSandbox) -> None:
    c = sandbox.create("contacts", email="gone@example.com")
    r = sandbox.http.post(
        "/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "gone@example.com", "idProperty": "email"}
    )
    assert r.status_code == 204
    assert_error(
        sandbox.http.get(f"/crm/v3/objects/contacts/{c['id']}", params={"archived": "true"}),
        404,
        "OBJECT_NOT_FOUND",
    )
    kinds = [e.kind for e in sandbox.sink.events if e.object_id == int(c["id"])]
    assert kinds[-2:] == ["privacyDeletion", "deletion"]


def test_api_writes_carry_the_app_as_writer(sandbox: LiveSandbox) -> None:
    c = sandbox.create("contacts", email="w@example.com")
    sandbox.http.patch(f"/crm/v3/objects/contacts/{c['id']}", json={"properties": {"firstname": "W"}})
    assert {(e.writer.change_source, e.writer.source_id) for e in sandbox.sink.events} == {
        ("INTEGRATION", str(APP_ID))
    }
    change = [e for e in sandbox.sink.events if e.property_name == "firstname"]
    assert [(e.kind, e.property_value) for e in change] == [("propertyChange", "W")]
    history = sandbox.http.get(
        f"/crm/v3/objects/contacts/{c['id']}", params={"propertiesWithHistory": "firstname,email"}
    ).json()["propertiesWithHistory"]
    assert [h["value"] for h in history["firstname"]] == ["W"]
    assert history["email"][0]["sourceType"] == "INTEGRATION" and history["email"][0]["sourceId"] == str(
        APP_ID
    )


def test_search_endpoint_paging_and_cap(sandbox: LiveSandbox) -> None:
    for i in range(15):
        sandbox.create("contacts", email=f"s{i}@example.com", firstname="Sam" if i % 2 else "Alex")
    body = {
        "filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "sam"}]}],
        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
        "properties": ["firstname"],
        "limit": 5,
    }
    first = sandbox.http.post("/crm/v3/objects/contacts/search", json=body).json()
    assert first["total"] == 7 and len(first["results"]) == 5
    assert first["paging"]["next"]["after"] == "5"
    assert [r["properties"]["firstname"] for r in first["results"]] == ["Sam"] * 5
    second = sandbox.http.post("/crm/v3/objects/contacts/search", json={**body, "after": "5"}).json()
    assert len(second["results"]) == 2 and "paging" not in second
    ids = [int(r["id"]) for r in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)
    r = sandbox.http.post("/crm/v3/objects/contacts/search", json={**body, "after": "10000"})
    assert_error(r, 400, "VALIDATION_ERROR")
    assert_error(
        sandbox.http.post("/crm/v3/objects/contacts/search", json={"limit": 201}), 400, "VALIDATION_ERROR"
    )
    groups = [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6
    assert_error(
        sandbox.http.post("/crm/v3/objects/contacts/search", json={"filterGroups": groups}),
        400,
        "VALIDATION_ERROR",
    )
    everything = sandbox.http.post("/crm/v3/objects/contacts/search", json={}).json()
    assert everything["total"] == 15 and len(everything["results"]) == 10
    assert set(everything["results"][0]["properties"]) >= {"email", "hs_object_id", "lastmodifieddate"}


def test_official_sdk_round_trip(sandbox: LiveSandbox) -> None:
    """hubspot-api-client, pointed at the sandbox, deserialises our responses unchanged."""
    from hubspot import HubSpot
    from hubspot.crm.contacts import (
        BatchInputSimplePublicObjectBatchInputUpsert,
        PublicObjectSearchRequest,
        SimplePublicObjectBatchInputUpsert,
        SimplePublicObjectInputForCreate,
    )
    from hubspot.crm.contacts.exceptions import ApiException

    client = HubSpot(access_token="sandbox-token", host=sandbox.base_url)
    contacts = client.crm.contacts
    created = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "sdk@example.com"}, associations=[])
    )
    assert created.id == "1" and created.properties["email"] == "sdk@example.com"
    fetched = contacts.basic_api.get_by_id(
        "sdk@example.com", id_property="email", properties=["email", "firstname"]
    )
    assert fetched.id == "1"
    page = contacts.basic_api.get_page(limit=5)
    assert [r.id for r in page.results] == ["1"] and page.paging is None
    upsert = contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="sdk@example.com", id_property="email", properties={"firstname": "Sdk"}
                )
            ]
        )
    )
    assert upsert.results[0].new is False
    found = contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Sdk"}]}],
            sorts=["lastmodifieddate"],
            properties=["firstname"],
            limit=10,
            after="0",
        )
    )
    assert found.total == 1 and found.results[0].properties["firstname"] == "Sdk"
    with pytest.raises(ApiException) as error:
        contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "sdk@example.com"}, associations=[])
        )
    assert error.value.status == 409
