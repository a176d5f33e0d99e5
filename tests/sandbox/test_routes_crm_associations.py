"""Associations v4 and the Properties v3 API over HTTP."""

from __future__ import annotations

from tests.sandbox.live import LiveSandbox, assert_error

V4 = "/crm/v4/objects"


def _pair(sandbox: LiveSandbox) -> tuple[str, str]:
    contact = sandbox.create("contacts", email="c@example.com")["id"]
    company = sandbox.create("companies", name="Co")["id"]
    return contact, company


def test_default_association_is_visible_from_both_sides(sandbox: LiveSandbox) -> None:
    contact, company = _pair(sandbox)
    r = sandbox.http.put(f"{V4}/contacts/{contact}/associations/default/companies/{company}")
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["associationSpec"] == {
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": 279,
    }
    from_contact = sandbox.http.get(f"{V4}/contacts/{contact}/associations/companies").json()
    assert from_contact["results"] == [
        {"toObjectId": company, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279}]}
    ]
    from_company = sandbox.http.get(f"{V4}/companies/{company}/associations/contacts").json()
    assert from_company["results"][0]["associationTypes"][0]["typeId"] == 280
    v3 = sandbox.http.get(f"/crm/v3/objects/companies/{company}", params={"associations": "contacts"}).json()
    assert v3["associations"]["contacts"]["results"] == [
        {"id": contact, "type": "company_to_contact_unlabeled"}
    ]
    changes = [
        (e.object_type, e.object_id, e.association_type_id)
        for e in sandbox.sink.events
        if e.kind == "associationChange"
    ]
    assert changes == [("contact", int(contact), 279), ("company", int(company), 280)]

    assert sandbox.http.delete(f"{V4}/contacts/{contact}/associations/companies/{company}").status_code == 204
    assert sandbox.http.get(f"{V4}/contacts/{contact}/associations/companies").json()["results"] == []
    removed = [e for e in sandbox.sink.events if e.kind == "associationChange" and e.association_removed]
    assert len(removed) == 2


def test_labeled_primary_association_and_batch_read(sandbox: LiveSandbox) -> None:
    contact, company = _pair(sandbox)
    body = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    r = sandbox.http.put(f"{V4}/contacts/{contact}/associations/companies/{company}", json=body)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "fromObjectTypeId": "0-1",
        "fromObjectId": contact,
        "toObjectTypeId": "0-2",
        "toObjectId": company,
        "labels": ["Primary"],
    }
    got = sandbox.http.get(
        f"/crm/v3/objects/contacts/{contact}", params={"properties": "associatedcompanyid"}
    ).json()
    assert got["properties"]["associatedcompanyid"] == company
    lonely = sandbox.create("contacts", email="lonely@example.com")["id"]
    r = sandbox.http.post(
        "/crm/v4/associations/contacts/companies/batch/read",
        json={"inputs": [{"id": contact}, {"id": lonely}]},
    )
    assert r.status_code == 207
    result = r.json()["results"][0]
    assert result["from"] == {"id": contact}
    assert {t["typeId"] for t in result["to"][0]["associationTypes"]} == {279, 1}
    assert r.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    bad = sandbox.http.put(
        f"{V4}/contacts/{contact}/associations/companies/{company}",
        json=[{"associationCategory": "USER_DEFINED", "associationTypeId": 99}],
    )
    assert_error(bad, 400, "VALIDATION_ERROR")


def test_batch_association_create_and_archive(sandbox: LiveSandbox) -> None:
    contact, company = _pair(sandbox)
    types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}]
    r = sandbox.http.post(
        "/crm/v4/associations/companies/contacts/batch/create",
        json={
            "inputs": [
                {"from": {"id": company}, "to": {"id": contact}, "types": types},
                {"from": {"id": company}, "to": {"id": "999"}, "types": types},
            ]
        },
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1
    assert sandbox.store.associations("contact", int(contact)) == [int(company)]
    r = sandbox.http.post(
        "/crm/v4/associations/companies/contacts/batch/archive",
        json={"inputs": [{"from": {"id": company}, "to": [{"id": contact}]}]},
    )
    assert r.status_code == 204 and sandbox.store.associations("contact", int(contact)) == []
    r = sandbox.http.post(
        "/crm/v4/associations/contacts/companies/batch/associate/default",
        json={"inputs": [{"from": {"id": contact}, "to": {"id": company}}]},
    )
    assert r.status_code == 200 and r.json()["results"][0]["to"] == {"id": company}


def test_create_with_associations_in_the_input(sandbox: LiveSandbox) -> None:
    company = sandbox.create("companies", name="Co")["id"]
    r = sandbox.http.post(
        "/crm/v3/objects/contacts",
        json={
            "properties": {"email": "a@example.com"},
            "associations": [
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ],
        },
    )
    assert r.status_code == 201
    assert sandbox.store.associations("company", int(company)) == [int(r.json()["id"])]
    r = sandbox.http.post(
        "/crm/v3/objects/contacts",
        json={
            "properties": {"email": "b@example.com"},
            "associations": [
                {
                    "to": {"id": "12345"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        },
    )
    assert_error(r, 400, "VALIDATION_ERROR")
    assert sandbox.store.count("contact") == 1


def test_properties_api(sandbox: LiveSandbox) -> None:
    all_props = sandbox.http.get("/crm/v3/properties/contacts").json()["results"]
    by_name = {p["name"]: p for p in all_props}
    assert by_name["lifecyclestage"]["type"] == "enumeration" and by_name["lifecyclestage"]["options"]
    assert by_name["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    industry = sandbox.http.get("/crm/v3/properties/companies/industry").json()
    assert {"value": "COMPUTER_SOFTWARE"}.items() <= next(
        o for o in industry["options"] if o["value"] == "COMPUTER_SOFTWARE"
    ).items()

    definition = {
        "name": "fav_color",
        "label": "Favourite colour",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": "Red", "value": "red", "hidden": False}],
    }
    created = sandbox.http.post("/crm/v3/properties/contacts", json=definition)
    assert created.status_code == 201 and created.json()["hubspotDefined"] is False
    assert_error(
        sandbox.http.post("/crm/v3/properties/contacts", json=definition), 409, "OBJECT_ALREADY_EXISTS"
    )
    r = sandbox.http.post("/crm/v3/objects/contacts", json={"properties": {"fav_color": "blue"}})
    assert assert_error(r, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_OPTION"
    patched = sandbox.http.patch("/crm/v3/properties/contacts/fav_color", json={"label": "Colour"})
    assert patched.json()["label"] == "Colour"

    read = sandbox.http.post(
        "/crm/v3/properties/contacts/batch/read",
        json={
            "inputs": [{"name": "fav_color"}, {"name": "nope"}],
            "archived": False,
            "dataSensitivity": "non_sensitive",
        },
    )
    assert read.status_code == 207 and [p["name"] for p in read.json()["results"]] == ["fav_color"]
    assert sandbox.http.delete("/crm/v3/properties/contacts/fav_color").status_code == 204
    assert_error(sandbox.http.get("/crm/v3/properties/contacts/fav_color"), 404, "OBJECT_NOT_FOUND")
    assert (
        sandbox.http.get("/crm/v3/properties/contacts/fav_color", params={"archived": "true"}).json()[
            "archived"
        ]
        is True
    )
    assert_error(sandbox.http.delete("/crm/v3/properties/contacts/email"), 400, "VALIDATION_ERROR")

    groups = sandbox.http.get("/crm/v3/properties/contacts/groups").json()["results"]
    assert "contactinformation" in {g["name"] for g in groups}
    made = sandbox.http.post(
        "/crm/v3/properties/contacts/groups", json={"name": "hubsync", "label": "hubsync"}
    )
    assert made.status_code == 201
    assert sandbox.http.get("/crm/v3/properties/contacts/groups/hubsync").json()["label"] == "hubsync"
    batch = sandbox.http.post(
        "/crm/v3/properties/contacts/batch/create",
        json={
            "inputs": [
                {
                    "name": "p_one",
                    "label": "One",
                    "type": "number",
                    "fieldType": "number",
                    "groupName": "hubsync",
                },
                {
                    "name": "p_two",
                    "label": "Two",
                    "type": "number",
                    "fieldType": "text",
                    "groupName": "hubsync",
                },
            ]
        },
    )
    assert batch.status_code == 207 and batch.json()["numErrors"] == 1
