"""HubSpot's official Python SDK (``hubspot-api-client``), unchanged, against a live sandbox.

The SDK is pointed at the sandbox the way any client is pointed at another host: ``host=`` to
``HubSpot(...)`` sets ``Configuration.host`` of every sub-API client. The sandbox runs with its
authentication middleware and a fixed private-app token, so every call also proves the SDK's
``access_token`` travels as ``Authorization: Bearer``. (Webhook signatures against the SDK's
``Signature`` helper are covered in test_webhooks.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm import companies as co  # each SDK package: its models and its own ApiException
from hubspot.crm import contacts as c
from hubspot.crm import properties as p
from hubspot.crm.associations import v4 as a4
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.middleware import auth_middleware
from tests.sandbox.live import APP_ID, LiveSandbox, serving

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[LiveSandbox]:
    """The shared fixture, with HubSpot's Bearer-token check in front."""
    config = SandboxConfig(app_id=APP_ID, access_token=SecretStr(TOKEN))
    yield from serving(LiveSandbox(config, middlewares=[auth_middleware(config)]))


@pytest.fixture
def client(sandbox: LiveSandbox) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sandbox.base_url)


def error_body(error: Any) -> dict[str, Any]:
    """The JSON body of an SDK ``ApiException`` (raw bytes on ``.body``)."""
    body: dict[str, Any] = json.loads(error.body)
    assert body["status"] == "error" and body["correlationId"] and body["category"], body
    return body


def new_contact(n: int, **extra: str) -> c.SimplePublicObjectInputForCreate:
    properties = {"email": f"sdk{n}@example.com", "firstname": f"Sdk{n}", "lastname": "Tester", **extra}
    return c.SimplePublicObjectInputForCreate(properties=properties, associations=[])


def new_company(n: int, **extra: str) -> co.SimplePublicObjectInputForCreate:
    properties = {"name": f"Sdk Co {n}", "domain": f"sdk{n}.example.com", **extra}
    return co.SimplePublicObjectInputForCreate(properties=properties, associations=[])


# ---- basic CRUD and list paging -------------------------------------------------------------


def test_contacts_crud(client: HubSpot) -> None:
    api = client.crm.contacts.basic_api
    created = api.create(new_contact(1))
    assert created.id and created.properties["email"] == "sdk1@example.com"
    assert created.created_at is not None and created.archived is False

    got = api.get_by_id(created.id, properties=["email", "firstname"], properties_with_history=["firstname"])
    assert got.properties["firstname"] == "Sdk1"
    assert got.properties_with_history["firstname"][0].value == "Sdk1"
    by_email = api.get_by_id("SDK1@example.com", id_property="email")
    assert by_email.id == created.id

    updated = api.update(created.id, c.SimplePublicObjectInput(properties={"lastname": "Lovelace"}))
    assert updated.properties["lastname"] == "Lovelace"
    assert updated.updated_at > created.updated_at

    api.archive(created.id)
    with pytest.raises(c.ApiException) as missing:
        api.get_by_id(created.id)
    assert missing.value.status == 404
    assert error_body(missing.value)["category"] == "OBJECT_NOT_FOUND"
    archived = api.get_by_id(created.id, archived=True)
    assert archived.archived is True and archived.archived_at is not None


def test_companies_crud(client: HubSpot) -> None:
    api = client.crm.companies.basic_api
    created = api.create(new_company(1, industry="INTERNET"))
    assert created.properties["domain"] == "sdk1.example.com"
    got = api.get_by_id(created.id, properties=["name", "industry"])
    assert got.properties["industry"] == "INTERNET"
    updated = api.update(created.id, co.SimplePublicObjectInput(properties={"name": "Renamed"}))
    assert updated.properties["name"] == "Renamed"
    api.archive(created.id)
    with pytest.raises(co.ApiException) as missing:
        api.get_by_id(created.id)
    assert missing.value.status == 404


@pytest.mark.parametrize("api_name", ["contacts", "companies"])
def test_get_page_follows_after(client: HubSpot, api_name: str) -> None:
    pkg = c if api_name == "contacts" else co
    new = new_contact if api_name == "contacts" else new_company
    crm = getattr(client.crm, api_name)
    batch = pkg.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            pkg.SimplePublicObjectBatchInputForCreate(properties=new(n).properties, associations=[])
            for n in range(25)
        ]
    )
    created = crm.batch_api.create(batch)
    assert len(created.results) == 25
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page = crm.basic_api.get_page(limit=10, after=after, archived=False)
        seen += [r.id for r in page.results]
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == 3
    assert sorted(seen, key=int) == sorted((r.id for r in created.results), key=int)


# ---- batch ----------------------------------------------------------------------------------


def test_contact_batches(client: HubSpot) -> None:
    batch = client.crm.contacts.batch_api
    created = batch.create(
        c.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                c.SimplePublicObjectBatchInputForCreate(properties=new_contact(n).properties, associations=[])
                for n in range(3)
            ]
        )
    )
    ids = sorted((r.id for r in created.results), key=int)
    assert len(ids) == 3 and created.status == "COMPLETE"

    read = batch.read(
        c.BatchReadInputSimplePublicObjectId(
            inputs=[c.SimplePublicObjectId(id=i) for i in [*ids, "999999"]],
            properties=["email"],
            properties_with_history=[],
        )
    )
    assert {r.id for r in read.results} == set(ids)
    assert read.num_errors == 1 and read.errors[0].context["ids"] == ["999999"]

    updated = batch.update(
        c.BatchInputSimplePublicObjectBatchInput(
            inputs=[c.SimplePublicObjectBatchInput(id=i, properties={"lastname": "Batched"}) for i in ids]
        )
    )
    assert {r.properties["lastname"] for r in updated.results} == {"Batched"}

    upserted = batch.upsert(
        c.BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                c.SimplePublicObjectBatchInputUpsert(
                    id_property="email", id="sdk0@example.com", properties={"firstname": "Again"}
                ),
                c.SimplePublicObjectBatchInputUpsert(
                    id_property="email", id="fresh@example.com", properties={"firstname": "Fresh"}
                ),
            ]
        )
    )
    assert {(r.properties["email"], r.new) for r in upserted.results} == {
        ("sdk0@example.com", False),
        ("fresh@example.com", True),
    }

    batch.archive(c.BatchInputSimplePublicObjectId(inputs=[c.SimplePublicObjectId(id=i) for i in ids]))
    assert client.crm.contacts.basic_api.get_page().results[0].properties["email"] == "fresh@example.com"


def test_company_batches_and_upsert_by_unique_property(client: HubSpot) -> None:
    client.crm.properties.core_api.create(
        "companies",
        p.PropertyCreate(
            name="hubsync_record_id",
            label="hubsync record id",
            type="string",
            field_type="text",
            group_name="companyinformation",
            has_unique_value=True,
        ),
    )
    batch = client.crm.companies.batch_api
    created = batch.create(
        co.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                co.SimplePublicObjectBatchInputForCreate(
                    properties={**new_company(n).properties, "hubsync_record_id": f"org-{n}"}, associations=[]
                )
                for n in range(2)
            ]
        )
    )
    ids = [r.id for r in created.results]
    upserted = batch.upsert(
        co.BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                co.SimplePublicObjectBatchInputUpsert(
                    id_property="hubsync_record_id", id="org-1", properties={"name": "Updated"}
                ),
                co.SimplePublicObjectBatchInputUpsert(
                    id_property="hubsync_record_id", id="org-9", properties={"name": "Created"}
                ),
            ]
        )
    )
    by_key = {r.properties["hubsync_record_id"]: r for r in upserted.results}
    assert by_key["org-1"].new is False and by_key["org-1"].properties["name"] == "Updated"
    assert by_key["org-9"].new is True
    read = batch.read(
        co.BatchReadInputSimplePublicObjectId(
            inputs=[co.SimplePublicObjectId(id="org-0")],
            id_property="hubsync_record_id",
            properties=["name"],
            properties_with_history=[],
        )
    )
    assert [r.id for r in read.results] == [ids[0]]
    updated = batch.update(
        co.BatchInputSimplePublicObjectBatchInput(
            inputs=[co.SimplePublicObjectBatchInput(id=i, properties={"industry": "RETAIL"}) for i in ids]
        )
    )
    assert {r.properties["industry"] for r in updated.results} == {"RETAIL"}
    batch.archive(co.BatchInputSimplePublicObjectId(inputs=[co.SimplePublicObjectId(id=i) for i in ids]))
    with pytest.raises(co.ApiException) as gone:
        client.crm.companies.basic_api.get_by_id(ids[0])
    assert gone.value.status == 404


# ---- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sorts",
    [["hs_object_id"], [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]],
    ids=["string-sort", "object-sort"],
)
def test_search_pages_through_results(client: HubSpot, sorts: list[Any]) -> None:
    contacts = [new_contact(n, lastname="Tester" if n % 4 else "Other") for n in range(30)]
    client.crm.contacts.batch_api.create(
        c.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                c.SimplePublicObjectBatchInputForCreate(properties=x.properties, associations=[])
                for x in contacts
            ]
        )
    )
    wanted = sorted(
        (str(n + 1) for n in range(30) if n % 4 or n == 0),
        key=int,
    )
    request = c.PublicObjectSearchRequest(
        filter_groups=[
            c.FilterGroup(filters=[c.Filter(property_name="lastname", operator="EQ", value="Tester")]),
            c.FilterGroup(filters=[c.Filter(property_name="email", operator="EQ", value="sdk0@example.com")]),
        ],
        sorts=sorts,
        properties=["email", "lastname"],
        limit=7,
        after="0",
    )
    seen: list[str] = []
    pages = 0
    while True:
        page = client.crm.contacts.search_api.do_search(request)
        assert page.total == len(wanted)
        seen += [r.id for r in page.results]
        pages += 1
        if page.paging is None:
            break
        request.after = page.paging.next.after
    assert seen == wanted and pages == 4


def test_company_search(client: HubSpot) -> None:
    for n in range(3):
        client.crm.companies.basic_api.create(new_company(n, industry="INTERNET" if n else "RETAIL"))
    page = client.crm.companies.search_api.do_search(
        co.PublicObjectSearchRequest(
            filter_groups=[
                co.FilterGroup(
                    filters=[co.Filter(property_name="industry", operator="IN", values=["INTERNET"])]
                )
            ],
            sorts=["-createdate"],
            properties=["name"],
            limit=10,
            after="0",
        )
    )
    assert page.total == 2 and [r.properties["name"] for r in page.results] == ["Sdk Co 2", "Sdk Co 1"]


# ---- merge ----------------------------------------------------------------------------------


def test_merge_contacts_and_companies(client: HubSpot) -> None:
    basic = client.crm.contacts.basic_api
    primary, other = basic.create(new_contact(1)), basic.create(new_contact(2, jobtitle="CTO"))
    merged = basic.merge(c.PublicMergeInput(primary_object_id=primary.id, object_id_to_merge=other.id))
    assert merged.id == primary.id and merged.properties["jobtitle"] == "CTO"
    assert merged.properties["hs_additional_emails"] == "sdk2@example.com"
    assert basic.get_by_id(other.id).id == primary.id

    companies = client.crm.companies.basic_api
    first, second = companies.create(new_company(1)), companies.create(new_company(2))
    result = companies.merge(co.PublicMergeInput(primary_object_id=first.id, object_id_to_merge=second.id))
    assert result.id == first.id
    with pytest.raises(co.ApiException) as again:
        companies.merge(co.PublicMergeInput(primary_object_id=first.id, object_id_to_merge=first.id))
    assert again.value.status == 400


# ---- properties -----------------------------------------------------------------------------


def test_properties(client: HubSpot) -> None:
    core = client.crm.properties.core_api
    names = {prop.name for prop in core.get_all("contacts").results}
    assert {"email", "firstname", "lastname", "lifecyclestage"} <= names
    created = core.create(
        "contacts",
        p.PropertyCreate(
            name="hubsync_record_id",
            label="hubsync record id",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    assert created.has_unique_value is True and created.hubspot_defined is False
    got = core.get_by_name("contacts", "hubsync_record_id")
    assert got.name == "hubsync_record_id" and got.has_unique_value is True and got.type == "string"
    lifecycle = core.get_by_name("contacts", "lifecyclestage")
    assert "customer" in {o.value for o in lifecycle.options}
    with pytest.raises(p.ApiException) as duplicate:
        core.create(
            "contacts",
            p.PropertyCreate(
                name="hubsync_record_id",
                label="x",
                type="string",
                field_type="text",
                group_name="contactinformation",
            ),
        )
    assert duplicate.value.status == 409
    with pytest.raises(p.ApiException) as missing:
        core.get_by_name("contacts", "no_such_property")
    assert missing.value.status == 404

    contacts = client.crm.contacts.basic_api
    contacts.create(new_contact(1, hubsync_record_id="row-1"))
    with pytest.raises(c.ApiException) as taken:
        contacts.create(new_contact(2, hubsync_record_id="row-1"))
    assert taken.value.status == 409 and "Existing ID" in error_body(taken.value)["message"]


# ---- associations v4 ------------------------------------------------------------------------


def test_associations_v4_basic(client: HubSpot) -> None:
    contact = client.crm.contacts.basic_api.create(new_contact(1)).id
    company = client.crm.companies.basic_api.create(new_company(1)).id
    basic = client.crm.associations.v4.basic_api

    default = basic.create_default("contacts", contact, "companies", company)
    assert default.results[0].to.id == company
    assert default.results[0].association_spec.association_type_id == 279

    page = basic.get_page("contacts", contact, "companies")
    assert [r.to_object_id for r in page.results] == [company]
    assert {t.type_id for t in page.results[0].association_types} == {279}

    labeled = basic.create(
        "contacts",
        contact,
        "companies",
        company,
        [a4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    assert labeled.labels == ["Primary"] and labeled.to_object_id == company
    from_company = basic.get_page("companies", company, "contacts", limit=10)
    assert {t.type_id for t in from_company.results[0].association_types} == {280, 2}

    basic.archive("contacts", contact, "companies", company)
    assert basic.get_page("contacts", contact, "companies").results == []
    with pytest.raises(a4.ApiException) as missing:
        basic.create_default("contacts", contact, "companies", "999999")
    assert missing.value.status == 404


def test_associations_v4_batch(client: HubSpot) -> None:
    contacts = [client.crm.contacts.basic_api.create(new_contact(n)).id for n in range(3)]
    companies = [client.crm.companies.basic_api.create(new_company(n)).id for n in range(3)]
    batch = client.crm.associations.v4.batch_api
    primary = [a4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)]

    created = batch.create(
        "contacts",
        "companies",
        a4.BatchInputPublicAssociationMultiPost(
            inputs=[
                a4.PublicAssociationMultiPost(
                    _from=a4.PublicObjectId(id=x), to=a4.PublicObjectId(id=y), types=primary
                )
                for x, y in zip(contacts, companies, strict=True)
            ]
        ),
    )
    assert sorted(r.labels[0] for r in created.results) == ["Primary"] * 3

    defaults = batch.create_default(
        "companies",
        "contacts",
        a4.BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                a4.PublicDefaultAssociationMultiPost(
                    _from=a4.PublicObjectId(id=companies[0]), to=a4.PublicObjectId(id=contacts[1])
                )
            ]
        ),
    )
    assert defaults.results[0].association_spec.association_type_id == 280

    read = batch.get_page(
        "companies",
        "contacts",
        a4.BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[a4.PublicFetchAssociationsBatchRequest(id=companies[0])]
        ),
    )
    assert sorted((t.to_object_id for t in read.results[0].to), key=int) == sorted(contacts[:2], key=int)

    batch.archive_labels(
        "contacts",
        "companies",
        a4.BatchInputPublicAssociationMultiPost(
            inputs=[
                a4.PublicAssociationMultiPost(
                    _from=a4.PublicObjectId(id=contacts[0]),
                    to=a4.PublicObjectId(id=companies[0]),
                    types=primary,
                )
            ]
        ),
    )
    labels = client.crm.associations.v4.basic_api.get_page("contacts", contacts[0], "companies")
    assert {t.type_id for t in labels.results[0].association_types} == {279}

    batch.archive(
        "contacts",
        "companies",
        a4.BatchInputPublicAssociationMultiArchive(
            inputs=[
                a4.PublicAssociationMultiArchive(_from=a4.PublicObjectId(id=x), to=[a4.PublicObjectId(id=y)])
                for x, y in zip(contacts, companies, strict=True)
            ]
        ),
    )
    after = batch.get_page(
        "contacts",
        "companies",
        a4.BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[a4.PublicFetchAssociationsBatchRequest(id=x) for x in contacts]
        ),
    )
    # only the default association made from companies[0] to contacts[1] is left
    assert [(r._from.id, [t.to_object_id for t in r.to]) for r in after.results] == [
        (contacts[1], [companies[0]])
    ]
    assert after.num_errors == 2


# ---- errors ---------------------------------------------------------------------------------


def test_duplicate_email_raises_409_with_existing_id(client: HubSpot) -> None:
    first = client.crm.contacts.basic_api.create(new_contact(1))
    with pytest.raises(c.ApiException) as conflict:
        client.crm.contacts.basic_api.create(new_contact(1, firstname="Again"))
    assert conflict.value.status == 409
    body = error_body(conflict.value)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first.id}"


def test_validation_error_raises_400_with_errors(client: HubSpot) -> None:
    with pytest.raises(c.ApiException) as invalid:
        client.crm.contacts.basic_api.create(
            c.SimplePublicObjectInputForCreate(
                properties={"email": "not-an-email", "lifecyclestage": "nope"}, associations=[]
            )
        )
    assert invalid.value.status == 400
    body = error_body(invalid.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid")
    assert {e["in"]: e["code"] for e in body["errors"]} == {
        "email": "INVALID_EMAIL",
        "lifecyclestage": "INVALID_OPTION",
    }


def test_not_found_raises_404(client: HubSpot) -> None:
    with pytest.raises(co.ApiException) as missing:
        client.crm.companies.basic_api.update("424242", co.SimplePublicObjectInput(properties={"name": "x"}))
    assert missing.value.status == 404
    assert error_body(missing.value)["category"] == "OBJECT_NOT_FOUND"


def test_a_wrong_token_raises_401(sandbox: LiveSandbox) -> None:
    intruder = HubSpot(access_token="pat-na1-wrong", host=sandbox.base_url)
    with pytest.raises(c.ApiException) as denied:
        intruder.crm.contacts.basic_api.get_page()
    assert denied.value.status == 401
    assert error_body(denied.value)["category"] == "INVALID_AUTHENTICATION"


def test_batch_partial_failure_is_returned_not_raised(client: HubSpot) -> None:
    result = client.crm.companies.batch_api.create(
        co.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                co.SimplePublicObjectBatchInputForCreate(properties={"name": "Fine"}, associations=[]),
                co.SimplePublicObjectBatchInputForCreate(
                    properties={"no_such_property": "x"}, associations=[]
                ),
            ]
        )
    )
    assert isinstance(result, co.BatchResponseSimplePublicObjectWithErrors)
    assert result.num_errors == 1 and result.errors[0].category == "VALIDATION_ERROR"
    assert [r.properties["name"] for r in result.results] == ["Fine"]
