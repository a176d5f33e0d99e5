"""Search semantics on the store: operators, types, groups, query, sorts, paging, the result cap."""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.events import NullSink, Writer
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.search import parse_search, run_search
from hubsync.sandbox.store import CrmStore
from hubsync.sandbox.timefmt import iso_ms
from tests.sandbox.live import Clock

W = Writer("INTEGRATION", "1")
T0 = 1_700_000_000_000


@pytest.fixture
def store() -> CrmStore:
    clock = Clock(T0)
    s = CrmStore(SandboxConfig(search_result_cap=50), PropertyRegistry(clock), NullSink(), clock)
    for name, domain, employees, industry in (
        ("Acme Corp", "acme.com", "50", "RETAIL"),
        ("Beta Labs", "beta.io", "500", "BANKING"),
        ("Gamma", "gamma.dev", "9", None),
        ("delta systems", "acme.com", None, "RETAIL"),
    ):
        props = {"name": name, "domain": domain, "numberofemployees": employees, "industry": industry}
        s.create("company", {k: v for k, v in props.items() if v is not None}, W)
    return s


def ids(store: CrmStore, body: dict[str, Any], object_type: str = "company") -> list[int]:
    page = run_search(store, object_type, parse_search(store, object_type, body))  # type: ignore[arg-type]
    return [r.id for r in page.records]


def one(prop: str, op: str, **kw: Any) -> dict[str, Any]:
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": op, **kw}]}], "limit": 100}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("name", "EQ", {"value": "acme corp"}), [1]),
        (("name", "NEQ", {"value": "Acme Corp"}), [2, 3, 4]),
        (("numberofemployees", "GT", {"value": "10"}), [1, 2]),
        (("numberofemployees", "GTE", {"value": "50"}), [1, 2]),
        (("numberofemployees", "LT", {"value": "100"}), [1, 3]),
        (("numberofemployees", "LTE", {"value": "9"}), [3]),
        (("numberofemployees", "BETWEEN", {"value": "9", "highValue": "50"}), [1, 3]),
        (("industry", "IN", {"values": ["RETAIL", "banking"]}), [1, 2, 4]),
        (("industry", "NOT_IN", {"values": ["RETAIL"]}), [2, 3]),
        (("industry", "HAS_PROPERTY", {}), [1, 2, 4]),
        (("industry", "NOT_HAS_PROPERTY", {}), [3]),
        (("name", "CONTAINS_TOKEN", {"value": "labs"}), [2]),
        (("domain", "CONTAINS_TOKEN", {"value": "*.com"}), [1, 4]),
        (("name", "NOT_CONTAINS_TOKEN", {"value": "systems"}), [1, 2, 3]),
        (("hs_object_id", "IN", {"values": ["2", "4"]}), [2, 4]),
    ],
)
def test_operators(store: CrmStore, filters: tuple[str, str, dict[str, Any]], expected: list[int]) -> None:
    prop, op, kw = filters
    assert ids(store, one(prop, op, **kw)) == expected


def test_datetimes_accept_ms_and_iso(store: CrmStore) -> None:
    third = store.get("company", "3")
    for value in (str(third.updated_ms), iso_ms(third.updated_ms)):
        assert ids(store, one("hs_lastmodifieddate", "GTE", value=value)) == [3, 4]
        assert ids(store, one("createdate", "LT", value=value)) == [1, 2]
    assert ids(store, one("createdate", "EQ", value=iso_ms(third.created_ms))) == [3]


def test_groups_are_or_filters_are_and(store: CrmStore) -> None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "domain", "operator": "EQ", "value": "acme.com"},
                    {"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"},
                ]
            },
            {"filters": [{"propertyName": "name", "operator": "EQ", "value": "gamma"}]},
        ]
    }
    assert ids(store, body) == [1, 3]


def test_query_and_sorts(store: CrmStore) -> None:
    assert ids(store, {"query": "acme"}) == [1, 4]
    assert ids(store, {"query": "sys"}) == [4]
    asc = ids(store, {"sorts": [{"propertyName": "numberofemployees", "direction": "ASCENDING"}]})
    assert asc == [3, 1, 2, 4]
    assert ids(store, {"sorts": ["-numberofemployees"]}) == [2, 1, 3, 4]
    assert ids(store, {"sorts": [{"propertyName": "name", "direction": "DESCENDING"}]}) == [3, 4, 2, 1]


def test_poller_query_uses_index_and_matches_scan(store: CrmStore) -> None:
    for i in range(30):
        store.update("company", (i % 4) + 1, {"description": f"v{i}"}, W)
    first = store.get("company", "1").created_ms
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(first)},
                    {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": str(T0 + 10_000)},
                ]
            }
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 2,
    }
    page = run_search(store, "company", parse_search(store, "company", body))
    times = [r.updated_ms for r in page.records]
    assert page.total == 4 and times == sorted(times) and page.next_after == "2"
    desc = ids(store, {**body, "sorts": ["-hs_lastmodifieddate"], "limit": 10})
    assert desc == [r.id for r in sorted(store.table("company").iter_active(), key=lambda r: -r.updated_ms)]
    with_rest = {**body, "limit": 10}
    with_rest["filterGroups"][0]["filters"].append(
        {"propertyName": "domain", "operator": "EQ", "value": "acme.com"}
    )
    assert sorted(ids(store, with_rest)) == [1, 4]


def test_limits_and_cap(store: CrmStore) -> None:
    for body in (
        {"limit": 201},
        {"after": "50"},
        {"after": "abc"},
        {"filterGroups": [{"filters": []}] * 6},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7}]},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 6}] * 4},
        {"sorts": ["name", "domain"]},
        one("nope", "EQ", value="x"),
        one("numberofemployees", "GT", value="lots"),
        one("name", "IN"),
        one("name", "LIKE", value="x"),
    ):
        with pytest.raises(HubSpotApiError) as error:
            parse_search(store, "company", body)
        assert error.value.status == 400 and error.value.category == "VALIDATION_ERROR"
    for i in range(60):
        store.create("contact", {"email": f"p{i}@example.com"}, W)
    page = run_search(store, "contact", parse_search(store, "contact", {"limit": 200, "after": "40"}))
    assert page.total == 60 and len(page.records) == 20
    assert parse_search(store, "contact", {}).limit == 10
