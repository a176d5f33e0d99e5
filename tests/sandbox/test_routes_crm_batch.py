"""Batch endpoints: limits, 207 partial failures, upserts by email and by a unique custom property."""

from __future__ import annotations

from typing import Any

from tests.sandbox.live import ISO_MS, LiveSandbox, assert_error

UNIQUE_PROP = {
    "name": "hubsync_record_id",
    "label": "hubsync record id",
    "type": "string",
    "fieldType": "text",
    "groupName": "contactinformation",
    "hasUniqueValue": True,
}


def _batch(sandbox: LiveSandbox, object_type: str, op: str, inputs: list[Any], **extra: Any) -> Any:
    return sandbox.http.post(f"/crm/v3/objects/{object_type}/batch/{op}", json={"inputs": inputs, **extra})


def test_batch_limit_is_100_inputs(sandbox: LiveSandbox) -> None:
    inputs = [{"properties": {"email": f"x{i}@example.com"}} for i in range(101)]
    for op in ("create", "update", "upsert", "read", "archive"):
        assert_error(_batch(sandbox, "contacts", op, inputs), 400, "VALIDATION_ERROR")
    assert sandbox.store.count("contact") == 0
    r = _batch(sandbox, "contacts", "create", inputs[:100])
    assert r.status_code == 201 and len(r.json()["results"]) == 100


def test_batch_create_partial_failure_is_207(sandbox: LiveSandbox) -> None:
    sandbox.create("contacts", email="taken@example.com")
    r = _batch(
        sandbox,
        "contacts",
        "create",
        [
            {"properties": {"email": "new@example.com"}, "associations": []},
            {"properties": {"email": "broken"}, "associations": []},
            {"properties": {"email": "taken@example.com"}, "associations": []},
        ],
    )
    assert r.status_code == 207, r.text
    body = r.json()
    assert (
        body["status"] == "COMPLETE" and ISO_MS.match(body["startedAt"]) and ISO_MS.match(body["completedAt"])
    )
    assert [x["properties"]["email"] for x in body["results"]] == ["new@example.com"]
    assert body["numErrors"] == 2
    assert [e["category"] for e in body["errors"]] == ["VALIDATION_ERROR", "CONFLICT"]
    for error in body["errors"]:
        assert set(error) >= {"status", "category", "message", "context", "errors", "links"}
    assert sandbox.store.count("contact") == 2


def test_batch_read_update_archive(sandbox: LiveSandbox) -> None:
    ids = [sandbox.create("contacts", email=f"r{i}@example.com")["id"] for i in range(3)]
    r = _batch(
        sandbox,
        "contacts",
        "read",
        [{"id": ids[0]}, {"id": "999"}],
        properties=["email"],
        propertiesWithHistory=["email"],
    )
    assert r.status_code == 207
    body = r.json()
    assert [x["id"] for x in body["results"]] == [ids[0]]
    assert body["results"][0]["propertiesWithHistory"]["email"][0]["value"] == "r0@example.com"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["errors"][0]["context"] == {
        "ids": ["999"]
    }

    by_email = _batch(
        sandbox,
        "contacts",
        "read",
        [{"id": "R1@example.com"}],
        idProperty="email",
        properties=[],
        propertiesWithHistory=[],
    )
    assert by_email.status_code == 200 and by_email.json()["results"][0]["id"] == ids[1]

    r = _batch(
        sandbox,
        "contacts",
        "update",
        [{"id": ids[0], "properties": {"firstname": "U"}}, {"id": "999", "properties": {"firstname": "X"}}],
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1
    assert r.json()["results"][0]["properties"]["firstname"] == "U"

    r = _batch(sandbox, "contacts", "archive", [{"id": ids[0]}, {"id": ids[1]}, {"id": "999"}])
    assert r.status_code == 204
    assert sandbox.store.count("contact") == 1


def test_upsert_by_email_is_idempotent(sandbox: LiveSandbox) -> None:
    inputs = [{"idProperty": "email", "id": "Up@Example.com", "properties": {"firstname": "Up"}}]
    first = _batch(sandbox, "contacts", "upsert", inputs)
    assert first.status_code == 200, first.text
    assert first.json()["results"][0]["new"] is True
    assert first.json()["results"][0]["properties"]["email"] == "up@example.com"
    again = _batch(sandbox, "contacts", "upsert", inputs)
    assert again.json()["results"][0]["new"] is False
    assert again.json()["results"][0]["id"] == first.json()["results"][0]["id"]
    assert sandbox.store.count("contact") == 1
    dup = _batch(sandbox, "contacts", "upsert", inputs * 2)
    assert_error(dup, 400, "VALIDATION_ERROR")


def test_upsert_by_unique_custom_property(sandbox: LiveSandbox) -> None:
    r = sandbox.http.post(
        "/crm/v3/properties/companies", json={**UNIQUE_PROP, "groupName": "companyinformation"}
    )
    assert r.status_code == 201 and r.json()["hasUniqueValue"] is True
    inputs = [
        {
            "idProperty": "hubsync_record_id",
            "id": "rec-1",
            "properties": {"name": "One", "domain": "one.com"},
        },
        {
            "idProperty": "hubsync_record_id",
            "id": "rec-2",
            "properties": {"name": "Two", "domain": "one.com"},
        },
    ]
    first = _batch(sandbox, "companies", "upsert", inputs).json()
    assert [x["new"] for x in first["results"]] == [True, True]
    retried = _batch(sandbox, "companies", "upsert", inputs).json()
    assert [x["new"] for x in retried["results"]] == [False, False]
    assert sandbox.store.count("company") == 2
    dup = sandbox.http.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "Three", "hubsync_record_id": "rec-1"}}
    )
    body = assert_error(dup, 409, "CONFLICT")
    assert body["message"].endswith(f"Existing ID: {first['results'][0]['id']}")
    not_unique = _batch(
        sandbox, "companies", "upsert", [{"idProperty": "domain", "id": "one.com", "properties": {}}]
    )
    assert not_unique.status_code == 207
    assert "non-unique 0-2 property domain" in not_unique.json()["errors"][0]["message"]
