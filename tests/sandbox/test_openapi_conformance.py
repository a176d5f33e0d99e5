"""The sandbox against HubSpot's own OpenAPI files (vendored in ``hubspot_openapi/``).

Every operation of the contacts, companies, properties and associations v4 APIs that the sandbox
implements is driven through a real running sandbox (aiohttp on a loopback port, httpx client):
its successful call and its main error answers (400 validation, 404, 409, 207 partial batches),
plus 401 and 429 through the edge middlewares. Each request AND each response is validated
against the operation with openapi-core (the cases are in conformance_cases.py, the openapi-core
adapters in openapi_check.py).

:data:`IMPLEMENTED` lists the operations the sandbox serves, :data:`NOT_IMPLEMENTED` the others with
a reason; :func:`test_every_operation_is_implemented_and_tested_or_listed` fails when an operation of
the files is in neither (or implemented without a successful case), so nothing slips silently. A
hypothesis fuzz sends malformed and odd bodies to the write endpoints: never a 5xx, and every 4xx
body is HubSpot's ``Error``.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.middleware import auth_middleware, rate_limit_middleware
from hubsync.sandbox.ratelimit import RateLimiter
from tests.sandbox.conformance_cases import (
    AUTH,
    CASES,
    NO_BODY,
    OBJECT_APIS,
    TOKEN,
    WRITER,
    Call,
    Case,
    send,
)
from tests.sandbox.live import APP_ID, LiveSandbox
from tests.sandbox.openapi_check import (
    SPEC_DIR,
    SPEC_FILES,
    OpenAPIRequest,
    request_errors,
    request_validator,
    response_errors,
    schema_errors,
    spec_operations,
)

#: the operations of HubSpot's OpenAPI files the sandbox implements (all driven by CASES)
IMPLEMENTED: dict[str, tuple[str, ...]] = {
    "contacts": (
        "GET /crm/v3/objects/contacts",
        "POST /crm/v3/objects/contacts",
        "GET /crm/v3/objects/contacts/{contactId}",
        "PATCH /crm/v3/objects/contacts/{contactId}",
        "DELETE /crm/v3/objects/contacts/{contactId}",
        "POST /crm/v3/objects/contacts/batch/read",
        "POST /crm/v3/objects/contacts/batch/create",
        "POST /crm/v3/objects/contacts/batch/update",
        "POST /crm/v3/objects/contacts/batch/upsert",
        "POST /crm/v3/objects/contacts/batch/archive",
        "POST /crm/v3/objects/contacts/search",
        "POST /crm/v3/objects/contacts/merge",
        "POST /crm/v3/objects/contacts/gdpr-delete",
    ),
    "companies": (
        "GET /crm/v3/objects/companies",
        "POST /crm/v3/objects/companies",
        "GET /crm/v3/objects/companies/{companyId}",
        "PATCH /crm/v3/objects/companies/{companyId}",
        "DELETE /crm/v3/objects/companies/{companyId}",
        "POST /crm/v3/objects/companies/batch/read",
        "POST /crm/v3/objects/companies/batch/create",
        "POST /crm/v3/objects/companies/batch/update",
        "POST /crm/v3/objects/companies/batch/upsert",
        "POST /crm/v3/objects/companies/batch/archive",
        "POST /crm/v3/objects/companies/search",
        "POST /crm/v3/objects/companies/merge",
    ),
    "properties": (
        "GET /crm/v3/properties/{objectType}",
        "POST /crm/v3/properties/{objectType}",
        "GET /crm/v3/properties/{objectType}/{propertyName}",
        "PATCH /crm/v3/properties/{objectType}/{propertyName}",
        "DELETE /crm/v3/properties/{objectType}/{propertyName}",
        "POST /crm/v3/properties/{objectType}/batch/read",
        "POST /crm/v3/properties/{objectType}/batch/create",
        "POST /crm/v3/properties/{objectType}/batch/archive",
        "GET /crm/v3/properties/{objectType}/groups",
        "POST /crm/v3/properties/{objectType}/groups",
        "GET /crm/v3/properties/{objectType}/groups/{groupName}",
        "PATCH /crm/v3/properties/{objectType}/groups/{groupName}",
        "DELETE /crm/v3/properties/{objectType}/groups/{groupName}",
    ),
    "associations": (
        "PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
        "GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "PUT /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
        "DELETE /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive",
    ),
}

#: the operations of the files the sandbox does not serve, and why
NOT_IMPLEMENTED: dict[tuple[str, str, str], str] = {
    ("associations", "POST", "/crm/v4/associations/usage/high-usage-report/{userId}"): (
        "HubSpot e-mails a user a report of records near the association limit; nothing to "
        "simulate, and hubsync never requests it"
    ),
    ("webhooks", "GET", "/webhooks/v3/{appId}/settings"): (
        "webhook delivery (target URL, batching, concurrency) is set by SandboxConfig and the "
        "sandbox control API, not by HubSpot's developer-account settings API"
    ),
    ("webhooks", "PUT", "/webhooks/v3/{appId}/settings"): "as GET settings: set by SandboxConfig",
    ("webhooks", "DELETE", "/webhooks/v3/{appId}/settings"): "as GET settings: set by SandboxConfig",
    ("webhooks", "GET", "/webhooks/v3/{appId}/subscriptions"): (
        "the sandbox delivers every contact/company event type (its subscriptions are implicit); "
        "subscription management is a developer-account API hubsync never calls"
    ),
    ("webhooks", "POST", "/webhooks/v3/{appId}/subscriptions"): "as GET subscriptions: implicit",
    ("webhooks", "POST", "/webhooks/v3/{appId}/subscriptions/batch/update"): "as GET subscriptions",
    ("webhooks", "GET", "/webhooks/v3/{appId}/subscriptions/{subscriptionId}"): "as GET subscriptions",
    ("webhooks", "PATCH", "/webhooks/v3/{appId}/subscriptions/{subscriptionId}"): "as GET subscriptions",
    ("webhooks", "DELETE", "/webhooks/v3/{appId}/subscriptions/{subscriptionId}"): "as GET subscriptions",
}
#: concrete values for the path parameters of the not-implemented operations
_SAMPLE_PATH_VALUES = {"userId": "1", "appId": str(APP_ID), "subscriptionId": "1"}


# ---- running an exchange --------------------------------------------------------------------


def check_exchange(
    api: str, template: str, call: Call, response: httpx.Response, *, valid_request: bool = True
) -> None:
    request = OpenAPIRequest(response.request, template, call.params)
    problems = request_errors(api, request)
    if valid_request:
        assert not problems, "the test's request does not conform:\n" + "\n".join(problems)
    else:
        assert problems, "the request was meant to break the operation's schema, but it validates"
    problems = response_errors(api, request, response)
    assert not problems, (
        f"{response.status_code} response does not conform:\n"
        + "\n".join(problems)
        + f"\nbody: {response.text}"
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_operation_conforms(sandbox: LiveSandbox, case: Case) -> None:
    call = case.prepare(sandbox)
    response = send(sandbox, case.method, case.path, call)
    assert response.status_code == case.status, response.text
    check_exchange(case.api, case.path, call, response, valid_request=case.valid_request)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        assert not schema_errors(case.api, "Error", response.json())
    if case.check is not None:
        case.check(response.json())


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


def _implemented() -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for api, operations in IMPLEMENTED.items():
        for operation in operations:
            method, path = operation.split(" ", 1)
            found.add((api, method, path))
    return found


def test_every_operation_is_implemented_and_tested_or_listed() -> None:
    """Each operation of the OpenAPI files is in IMPLEMENTED (and then has a successful case) or in
    NOT_IMPLEMENTED (with a reason), never both, never neither; no case targets anything else."""
    declared = {(api, method, path) for api in SPEC_FILES for method, path in spec_operations(api)}
    implemented, not_implemented = _implemented(), set(NOT_IMPLEMENTED)
    assert implemented <= declared, f"not in the OpenAPI files: {sorted(implemented - declared)}"
    assert not_implemented <= declared, f"not in the OpenAPI files: {sorted(not_implemented - declared)}"
    assert not implemented & not_implemented, sorted(implemented & not_implemented)
    unlisted = declared - implemented - not_implemented
    assert not unlisted, f"operations neither in IMPLEMENTED nor in NOT_IMPLEMENTED: {sorted(unlisted)}"
    succeeded = {(c.api, c.method, c.path) for c in CASES if c.status < 300}
    assert implemented == succeeded, (
        f"implemented without a successful case: {sorted(implemented - succeeded)}; "
        f"cases outside IMPLEMENTED: {sorted(succeeded - implemented)}"
    )
    assert {(c.api, c.method, c.path) for c in CASES} <= implemented


@pytest.mark.parametrize(
    "operation", sorted(NOT_IMPLEMENTED), ids=["-".join(op) for op in sorted(NOT_IMPLEMENTED)]
)
def test_not_implemented_operations_answer_404(sandbox: LiveSandbox, operation: tuple[str, str, str]) -> None:
    """They really are absent, and say so with a conforming HubSpot error."""
    api, method, path = operation
    params = {name: _SAMPLE_PATH_VALUES[name] for name in _path_fields(path)}
    body = {} if method in ("POST", "PUT", "PATCH") else NO_BODY
    call = Call(params=params, body=body)
    response = send(sandbox, method, path, call)
    assert response.status_code == 404, response.text
    request = OpenAPIRequest(response.request, path, params)
    problems = response_errors(api, request, response)
    assert not problems, "\n".join(problems)


def test_vendored_files_are_hubspots_unmodified() -> None:
    """The SHA-256 of each vendored file is the one recorded in hubspot_openapi/README.md, and
    each is a valid OpenAPI 3.0 document (openapi-core checks that when it loads one)."""
    readme = (SPEC_DIR / "README.md").read_text(encoding="utf-8")
    recorded = dict(
        re.findall(r"^\| `([\w.-]+\.json)` \| [^|]+ \| `([0-9a-f]{64})` \|$", readme, re.MULTILINE)
    )
    assert set(recorded) == set(SPEC_FILES.values())
    for api, name in SPEC_FILES.items():
        assert hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest() == recorded[name], name
        assert spec_operations(api), name
        assert request_validator(api) is not None


def _path_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_the_checks_catch_nonconforming_exchanges() -> None:
    """The harness is no rubber stamp: wrong types, missing fields, bodies on a 204 and
    non-HubSpot error bodies are all reported."""
    template, params = "/crm/v3/objects/contacts/{contactId}", {"contactId": "1"}
    get = httpx.Request("GET", "http://127.0.0.1/crm/v3/objects/contacts/1", headers=AUTH)
    request = OpenAPIRequest(get, template, params)
    good = {"id": "1", "properties": {}, "createdAt": "2024-01-01T00:00:00.000Z", "archived": False}
    good["updatedAt"] = good["createdAt"]
    assert not response_errors("contacts", request, httpx.Response(200, json=good, request=get))
    for bad in ({**good, "id": 1}, {**good, "properties": {"email": None}}, {"id": "1"}):
        assert response_errors("contacts", request, httpx.Response(200, json=bad, request=get)), bad
    not_hubspot = httpx.Response(404, json={"error": "not found"}, request=get)
    assert response_errors("contacts", request, not_hubspot)
    delete = httpx.Request("DELETE", "http://127.0.0.1/crm/v3/objects/contacts/1", headers=AUTH)
    deleted = OpenAPIRequest(delete, template, params)
    assert not response_errors("contacts", deleted, httpx.Response(204, request=delete))
    assert response_errors("contacts", deleted, httpx.Response(204, content=b"{}", request=delete))
    unauthenticated = httpx.Request("GET", "http://127.0.0.1/crm/v3/objects/contacts/1")
    assert request_errors("contacts", OpenAPIRequest(unauthenticated, template, params))


# ---- 401 and 429 through the edge middlewares ------------------------------------------------


class FrozenClock:
    """A monotonic clock that stands still: rate-limit windows never roll during a test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def edge_sandbox() -> Iterator[tuple[LiveSandbox, RateLimiter]]:
    config = SandboxConfig(app_id=APP_ID, access_token=SecretStr(TOKEN), burst_limit=3, search_per_second=2)
    limiter = RateLimiter(config, clock=FrozenClock())
    server = LiveSandbox(
        config, middlewares=[auth_middleware(config), rate_limit_middleware(limiter)]
    ).start()
    try:
        yield server, limiter
    finally:
        server.stop()


EDGE_CASES = [
    Case("contacts", "GET", "/crm/v3/objects/contacts", 429, lambda sb: Call(), variant="ten-secondly"),
    Case(
        "companies",
        "POST",
        "/crm/v3/objects/companies/search",
        429,
        lambda sb: Call(body={"filterGroups": [], "sorts": [], "properties": [], "limit": 1, "after": "0"}),
        variant="secondly",
    ),
    Case(
        "associations",
        "GET",
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        429,
        lambda sb: Call(params={"objectType": "contacts", "objectId": "1", "toObjectType": "companies"}),
        variant="ten-secondly",
    ),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.id for case in EDGE_CASES])
def test_rate_limited_answer_conforms(edge_sandbox: tuple[LiveSandbox, RateLimiter], case: Case) -> None:
    sandbox, limiter = edge_sandbox
    sandbox.reset()
    limiter.reset()
    call = case.prepare(sandbox)
    statuses: list[int] = []
    for _ in range(5):  # the limits are 3 per window and 2 searches per second
        response = send(sandbox, case.method, case.path, call)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[0] != 429 and statuses[-1] == 429, (statuses, response.text)
    check_exchange(case.api, case.path, call, response)
    body = response.json()
    assert body["errorType"] == "RATE_LIMIT" and body["category"] == "RATE_LIMITS"
    assert not schema_errors(case.api, "Error", body)


def test_unauthenticated_answer_conforms(edge_sandbox: tuple[LiveSandbox, RateLimiter]) -> None:
    sandbox, limiter = edge_sandbox
    limiter.reset()
    path = "/crm/v3/objects/contacts/{contactId}"
    call = Call(params={"contactId": "1"})
    response = send(sandbox, "GET", path, call, headers={"Authorization": "Bearer wrong-token"})
    assert response.status_code == 401, response.text
    check_exchange("contacts", path, call, response)
    missing = send(sandbox, "GET", path, call, headers={})
    assert missing.status_code == 401
    request = OpenAPIRequest(missing.request, path, call.params)
    assert request_errors("contacts", request), "the spec requires a bearer token"
    assert not response_errors("contacts", request, missing)


# ---- fuzzing odd bodies ----------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "properties",
        "associations",
        "inputs",
        "id",
        "idProperty",
        "email",
        "firstname",
        "name",
        "domain",
        "hs_object_id",
        "filterGroups",
        "filters",
        "propertyName",
        "operator",
        "value",
        "values",
        "sorts",
        "limit",
        "after",
        "to",
        "types",
        "associationTypeId",
        "associationCategory",
        "primaryObjectId",
        "objectIdToMerge",
        "type",
        "fieldType",
        "groupName",
        "label",
        "options",
        "displayOrder",
        "hasUniqueValue",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "²",
            "\u0661",  # ARABIC-INDIC DIGIT ONE: isdigit() but not an ASCII digit
            "9" * 30,
            "EQ",
            "HUBSPOT_DEFINED",
            "a@b.co",
            "contactinformation",
            "string",
            "text",
        ]
    )
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_KEYS | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=20,
)
#: bodies that are not JSON (HubSpot's strict JSON) at all, or JSON that is odd at the top level
RAW_BODIES: dict[str, bytes] = {
    "empty": b"",
    "blank": b" ",
    "truncated": b"{",
    "null": b"null",
    "array": b"[]",
    "string": b'"text"',
    "number": b"123",
    "not-utf8": b"\xff\xfe\x00",
    "nan": b'{"properties": NaN}',
    "infinity": b'{"limit": Infinity}',
    "unclosed-nesting": b'{"inputs": [' * 2000,
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge-integer": b'{"limit": ' + b"9" * 5000 + b"}",
}
_RAW = st.sampled_from(list(RAW_BODIES.values()))

_FUZZ_TARGETS: dict[str, tuple[str, str, str, Mapping[str, str]]] = {
    "create": ("contacts", "POST", "/crm/v3/objects/contacts", {}),
    "update": ("companies", "PATCH", "/crm/v3/objects/companies/{companyId}", {"companyId": "1"}),
    "batch-create": ("contacts", "POST", "/crm/v3/objects/contacts/batch/create", {}),
    "batch-update": ("companies", "POST", "/crm/v3/objects/companies/batch/update", {}),
    "batch-upsert": ("contacts", "POST", "/crm/v3/objects/contacts/batch/upsert", {}),
    "batch-read": ("contacts", "POST", "/crm/v3/objects/contacts/batch/read", {}),
    "search": ("contacts", "POST", "/crm/v3/objects/contacts/search", {}),
    "merge": ("companies", "POST", "/crm/v3/objects/companies/merge", {}),
    "gdpr-delete": ("contacts", "POST", "/crm/v3/objects/contacts/gdpr-delete", {}),
    "property-create": ("properties", "POST", "/crm/v3/properties/{objectType}", {"objectType": "contacts"}),
    "group-update": (
        "properties",
        "PATCH",
        "/crm/v3/properties/{objectType}/groups/{groupName}",
        {"objectType": "companies", "groupName": "companyinformation"},
    ),
    "association-create": (
        "associations",
        "PUT",
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
        {"objectType": "contacts", "objectId": "1", "toObjectType": "companies", "toObjectId": "1"},
    ),
    "association-batch-create": (
        "associations",
        "POST",
        "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create",
        {"fromObjectType": "companies", "toObjectType": "contacts"},
    ),
    "association-batch-archive": (
        "associations",
        "POST",
        "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive",
        {"fromObjectType": "contacts", "toObjectType": "companies"},
    ),
}


@pytest.mark.parametrize("target", ["create", "batch-upsert", "search", "association-create"])
@pytest.mark.parametrize("raw", sorted(RAW_BODIES))
def test_malformed_json_is_a_400(live_sandbox: LiveSandbox, target: str, raw: str) -> None:
    api, method, path, params = _FUZZ_TARGETS[target]
    response = send(live_sandbox, method, path, Call(params=params, body=RAW_BODIES[raw]))
    assert response.status_code == 400, response.text
    assert not schema_errors(api, "Error", response.json())
    assert not response_errors(api, OpenAPIRequest(response.request, path, params), response)


def _seed_fuzz(sandbox: LiveSandbox) -> None:
    sandbox.reset()
    contacts, companies = OBJECT_APIS["contacts"], OBJECT_APIS["companies"]
    for n in range(2):
        sandbox.store.associate(int(contacts.add(sandbox, n)), int(companies.add(sandbox, n)), WRITER)


@pytest.mark.parametrize("target", sorted(_FUZZ_TARGETS))
@settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(body=_JSON | _RAW)
@example(body={"properties": {"email": "x" * 70_000}})
@example(body={"inputs": [{"id": "²", "properties": {}, "to": "1"}]})
@example(body={"associations": [{"to": "1", "types": [{}]}], "properties": {}})
@example(body={"properties": {"date_of_birth": "99999999999999999999"}, "associations": []})
@example(
    body={"filterGroups": [{"filters": [{"propertyName": "date_of_birth", "value": "-99999999999999"}]}]}
)
@example(body={"inputs": [{"id": "1", "idProperty": ["email"], "properties": {}}], "idProperty": {}})
@example(body=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": True}])
@example(body={"name": "x_y", "label": "x", "displayOrder": "first", "hidden": "false", "type": "string"})
def test_fuzzed_bodies_never_fail_the_server(live_sandbox: LiveSandbox, target: str, body: Any) -> None:
    api, method, path, params = _FUZZ_TARGETS[target]
    _seed_fuzz(live_sandbox)
    call = Call(params=params, body=body if isinstance(body, bytes) else json.dumps(body).encode())
    response = send(live_sandbox, method, path, call)
    assert response.status_code < 500, response.text
    request = OpenAPIRequest(response.request, path, params)
    if response.status_code >= 400:
        errors = schema_errors(api, "Error", response.json())
        assert not errors, "\n".join(errors) + f"\nbody: {response.text}"
    problems = response_errors(api, request, response)
    assert not problems, "\n".join(problems) + f"\nbody: {response.text}"
