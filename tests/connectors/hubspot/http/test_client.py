"""HubSpotClient against the sandbox: typed calls, batches mapped back to inputs, auth errors,
secrets kept out of logs and errors, metrics per templated endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hubsync.connectors.hubspot.http.client import HubSpotClient, parse_page
from hubsync.connectors.hubspot.http.errors import HubSpotAuthError, HubSpotRecordError
from hubsync.errors import FatalError, SkippableRecordError
from hubsync.metrics import HubSpotClientMetrics
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import TOKEN, Control, make_client, make_config


def run(sandbox: ThreadedSandbox, scenario: Any, **config: Any) -> Any:
    async def main() -> Any:
        async with make_client(sandbox.base_url, **config) as client:
            return await scenario(client)

    return asyncio.run(main())


def contact(i: int, **props: str) -> dict[str, Any]:
    return {"properties": {"email": f"person{i}@example.com", "firstname": f"P{i}", **props}}


def test_crud_through_batches(sandbox: ThreadedSandbox, control: Control) -> None:
    async def scenario(client: HubSpotClient) -> None:
        created = await client.batch_create("contacts", [contact(i) for i in range(250)])
        assert created.ok and len(created.succeeded) == 250
        assert [s.index for s in created.succeeded] == list(range(250))
        assert all(
            s.result["properties"]["email"] == f"person{s.index}@example.com" for s in created.succeeded
        )
        ids = [str(s.result["id"]) for s in created.succeeded]

        updated = await client.batch_update(
            "contacts", [{"id": i, "properties": {"jobtitle": f"T{n}"}} for n, i in enumerate(ids)]
        )
        assert updated.ok and [s.result["properties"]["jobtitle"] for s in updated.succeeded] == [
            f"T{n}" for n in range(250)
        ]

        read = await client.batch_read("contacts", ids[:120], properties=["jobtitle", "email"])
        assert [s.result["id"] for s in read.succeeded] == ids[:120]
        by_email = await client.batch_read(
            "contacts", ["PERSON3@example.com"], properties=["email"], id_property="email"
        )
        assert by_email.ok and by_email.succeeded[0].result["id"] == ids[3]

        upserted = await client.batch_upsert(
            "contacts",
            [{"id": "person1@example.com", "idProperty": "email", "properties": {"jobtitle": "CEO"}},
             {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "New"}}],
        )  # fmt: skip
        assert upserted.ok
        assert upserted.succeeded[0].result["id"] == ids[1] and upserted.succeeded[0].result["new"] is False
        assert upserted.succeeded[1].result["new"] is True

        archived = await client.batch_archive("contacts", ids[:150])
        assert archived.ok and len(archived.succeeded) == 150
        page = await client.get_page("contacts", limit=100, properties=("email",), archived=True)
        assert len(page.results) == 100 and page.after is not None

    run(sandbox, scenario)
    batch_creates = control.requests(path_prefix="/crm/v3/objects/contacts/batch/create")
    assert len(batch_creates) == 3  # 250 inputs -> chunks of 100, 100, 50


def test_207_failures_map_back_to_their_inputs(sandbox: ThreadedSandbox, control: Control) -> None:
    async def scenario(client: HubSpotClient) -> None:
        await client.batch_create("contacts", [contact(0)])
        inputs = [contact(1), {"properties": {"email": "not-an-email"}}, contact(2), contact(0),
                  {"properties": {"email": "x@example.com", "hs_lead_status": "NOPE"}}, contact(3)]  # fmt: skip
        outcome = await client.batch_create("contacts", inputs)
        assert [s.index for s in outcome.succeeded] == [0, 2, 5]
        assert [s.result["properties"]["email"] for s in outcome.succeeded] == [
            "person1@example.com", "person2@example.com", "person3@example.com"
        ]  # fmt: skip
        failed = {f.index: f for f in outcome.failed}
        assert sorted(failed) == [1, 3, 4]
        assert failed[1].status == 400 and failed[1].category == "VALIDATION_ERROR"
        assert failed[1].errors[0]["code"] == "INVALID_EMAIL"
        assert failed[3].status == 409 and failed[3].category == "CONFLICT"
        assert "Existing ID" in (failed[3].message or "")
        assert failed[4].errors[0]["code"] == "INVALID_OPTION"
        assert failed[1].input["properties"] == {"email": "not-an-email"}  # the payload as sent
        assert all(not f.retriable for f in outcome.failed)

        # update/upsert errors name their input through context.ids
        updates = [{"id": "424242", "properties": {"firstname": "x"}},
                   {"id": outcome.succeeded[0].result["id"], "properties": {"firstname": "ok"}},
                   {"id": outcome.succeeded[1].result["id"], "properties": {"email": "broken"}}]  # fmt: skip
        updated = await client.batch_update("contacts", updates)
        assert [s.index for s in updated.succeeded] == [1]
        assert [(f.index, f.status) for f in updated.failed] == [(0, 404), (2, 400)]
        assert updated.failed[0].context["ids"] == ["424242"]

        read = await client.batch_read("contacts", ["1", "999", "2", "998"])
        assert [s.index for s in read.succeeded] == [0, 2]
        assert [(f.index, f.status, f.category) for f in read.failed] == [
            (1, 404, "OBJECT_NOT_FOUND"), (3, 404, "OBJECT_NOT_FOUND")
        ]  # fmt: skip

    run(sandbox, scenario)


def test_whole_chunk_rejection_fails_each_input(sandbox: ThreadedSandbox, control: Control) -> None:
    async def scenario(client: HubSpotClient) -> None:
        dup = {"id": "a@example.com", "idProperty": "email", "properties": {}}
        outcome = await client.batch_upsert("contacts", [dup, dup])  # HubSpot refuses duplicate ids
        assert not outcome.succeeded
        assert [(f.index, f.status, f.category) for f in outcome.failed] == [
            (0, 400, "VALIDATION_ERROR"), (1, 400, "VALIDATION_ERROR")
        ]  # fmt: skip

    run(sandbox, scenario)


def test_search_paging(sandbox: ThreadedSandbox, control: Control) -> None:
    async def scenario(client: HubSpotClient) -> None:
        await client.batch_create(
            "contacts", [contact(i, jobtitle="Engineer" if i % 2 else "Sales") for i in range(90)]
        )
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "jobtitle", "operator": "EQ", "value": "Engineer"}]}
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["email", "jobtitle"],
            "limit": 10,
        }
        seen: list[str] = []
        after: str | None = None
        while True:
            page = parse_page(
                await client.search("contacts", {**body, **({"after": after} if after else {})})
            )
            assert page.total == 45
            seen += [r["properties"]["email"] for r in page.results]
            if page.after is None:
                break
            after = page.after
        assert seen == [f"person{i}@example.com" for i in range(1, 90, 2)]

    run(sandbox, scenario)
    searches = control.requests(path_prefix="/crm/v3/objects/contacts/search")
    assert len(searches) == 5 and all(e["status"] == 200 for e in searches)  # paced by the search limiter


def test_properties_merge_and_associations(sandbox: ThreadedSandbox, control: Control) -> None:
    async def scenario(client: HubSpotClient) -> None:
        definition = {"name": "hubsync_record_id", "label": "hubsync record id", "type": "string",
                      "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": True}  # fmt: skip
        created = await client.create_property("contacts", definition)
        assert created["name"] == "hubsync_record_id"
        with pytest.raises(HubSpotRecordError) as exists:
            await client.create_property("contacts", definition)
        assert exists.value.details.status == 409
        names = {p["name"] for p in await client.get_properties("contacts")}
        assert {"email", "hubsync_record_id"} <= names

        company = await client.batch_create(
            "companies", [{"properties": {"name": "Acme", "domain": "acme.com"}}]
        )
        company_id = company.succeeded[0].result["id"]
        people = await client.batch_create(
            "contacts",
            [{"properties": {"email": "a@acme.com"}, "associations": [
                {"to": {"id": company_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}]},
             {"properties": {"email": "b@acme.com"}}],
        )  # fmt: skip
        a_id, b_id = (s.result["id"] for s in people.succeeded)
        assoc = await client.associations_batch_read("contacts", "companies", [a_id, b_id])
        assert assoc.ok
        assert [str(t["toObjectId"]) for t in assoc.succeeded[0].result["to"]] == [company_id]
        assert assoc.succeeded[1].result["to"] == []

        merged = await client.merge("contacts", a_id, b_id)
        assert merged["id"] == a_id and b_id in merged["properties"]["hs_merged_object_ids"]

    run(sandbox, scenario)


def test_wrong_token_is_a_clear_auth_error_without_the_token(
    sandbox: ThreadedSandbox, control: Control, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "pat-na1-wrong-token-0123456789abcdef"
    caplog.set_level(logging.DEBUG)

    async def scenario(client: HubSpotClient) -> None:
        assert wrong not in repr(client) and wrong not in str(client.config)
        with pytest.raises(HubSpotAuthError) as caught:
            await client.get_page("contacts")
        error = caught.value
        assert isinstance(error, FatalError)
        assert "401" in str(error) and "access token" in str(error) and "HUBSPOT_ACCESS_TOKEN" in str(error)
        assert error.details.category == "INVALID_AUTHENTICATION"
        for text in (str(error), repr(error), repr(error.details), str(error.__dict__)):
            assert wrong not in text
        # batch calls propagate the fatal error instead of filing it per input
        with pytest.raises(HubSpotAuthError):
            await client.batch_create("contacts", [contact(1)])

    run(sandbox, scenario, token=wrong)
    assert len(control.requests(path_prefix="/crm/")) == 2  # no retries of a 401
    assert caplog.records  # httpx logged the requests...
    for record in caplog.records:
        assert wrong not in record.getMessage() and TOKEN not in record.getMessage()  # ...never the token


def test_missing_scope_names_the_scopes() -> None:
    from hubsync.connectors.hubspot.http.classify import classify
    from hubsync.connectors.hubspot.http.errors import HubSpotErrorDetails
    from hubsync.connectors.hubspot.http.requester import Requester

    body = {"status": "error", "category": "MISSING_SCOPES", "message": "This app hasn't been granted all required scopes",
            "errors": [{"message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]}}]}  # fmt: skip
    error = Requester._fatal(classify(403, body, {}), HubSpotErrorDetails.from_body(403, body), "/crm/v3/x")
    assert isinstance(error, HubSpotAuthError)
    assert error.missing_scopes == ["crm.objects.contacts.write"]
    assert "missing scopes: crm.objects.contacts.write" in str(error)


def test_token_never_in_reprs_or_logs(
    sandbox: ThreadedSandbox, control: Control, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    control.fail_next(1, 503)

    async def scenario(client: HubSpotClient) -> None:
        await client.get_page("contacts")  # one retry, logged
        with pytest.raises(SkippableRecordError) as caught:
            await client.merge("contacts", "1", "2")
        for text in (
            repr(client),
            str(client.config),
            repr(client.config),
            str(caught.value),
            repr(caught.value),
        ):
            assert TOKEN not in text

    run(sandbox, scenario)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() and TOKEN not in str(r.args) for r in caplog.records)


def test_metrics_use_templated_endpoints(sandbox: ThreadedSandbox, control: Control) -> None:
    registry = CollectorRegistry()
    metrics = HubSpotClientMetrics.create(registry)
    control.fail_next(1, 502)

    async def main() -> None:
        async with HubSpotClient(make_config(sandbox.base_url), metrics=metrics) as client:
            created = await client.batch_create("contacts", [contact(1)])
            await client.batch_read("contacts", [created.succeeded[0].result["id"]])

    asyncio.run(main())
    get = registry.get_sample_value
    create = "/crm/v3/objects/contacts/batch/create"
    assert get("hubsync_hubspot_requests_total", {"endpoint": create, "method": "POST", "status": "502"}) == 1
    assert get("hubsync_hubspot_requests_total", {"endpoint": create, "method": "POST", "status": "201"}) == 1
    assert get("hubsync_hubspot_retries_total", {"reason": "5xx"}) == 1
    assert (
        get("hubsync_hubspot_request_seconds_count", {"endpoint": "/crm/v3/objects/contacts/batch/read"}) == 1
    )
    assert get("hubsync_hubspot_ratelimit_remaining", {"window": "ten_secondly"}) == 187
    assert get("hubsync_hubspot_ratelimit_remaining", {"window": "daily"}) is not None
    # the limits too, so the daily quota used can be a ratio (deploy/prometheus)
    assert get("hubsync_hubspot_ratelimit_limit", {"window": "ten_secondly"}) == 190
    assert get("hubsync_hubspot_ratelimit_limit", {"window": "daily"}) == 1_000_000


def test_unknown_object_type_is_refused() -> None:
    async def main() -> None:
        async with make_client("http://127.0.0.1:9") as client:
            with pytest.raises(ValueError, match="object_type"):
                await client.get_page("deals")  # type: ignore[arg-type]

    asyncio.run(main())
