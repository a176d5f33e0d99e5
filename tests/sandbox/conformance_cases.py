"""The conformance cases: one or more calls per sandbox operation of HubSpot's OpenAPI files.

A :class:`Case` names the operation exactly as the OpenAPI file does (API, method, path template),
prepares its data directly in the sandbox's store (fast, no HTTP), and says what it sends and which
status it expects. ``test_openapi_conformance.py`` runs them and validates both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.hubspot_model.properties import PropertyGroup
from hubsync.sandbox.events import Writer
from tests.sandbox.live import APP_ID, LiveSandbox

TOKEN = "pat-na1-00000000-0000-0000-0000-000000000000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITER = Writer("INTEGRATION", str(APP_ID))
#: "send no body" (None would be the JSON body ``null``)
NO_BODY: Any = object()


@dataclass(frozen=True)
class Call:
    """What one case sends: path parameters, query and JSON body (``bytes``: sent as they are)."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: Sequence[tuple[str, str]] = ()
    body: Any = NO_BODY


@dataclass(frozen=True)
class Case:
    api: str
    method: str
    #: the operation's path template, exactly as in the OpenAPI file
    path: str
    status: int
    prepare: Callable[[LiveSandbox], Call]
    variant: str = ""
    #: False when the request deliberately breaks the operation's schema (the spec must agree)
    valid_request: bool = True
    check: Callable[[Any], None] | None = None

    @property
    def id(self) -> str:
        short = self.path.removeprefix(_PREFIXES[self.api]) or "/"
        return "-".join(p for p in (self.api, self.method, short, str(self.status), self.variant) if p)


_PREFIXES = {
    "contacts": "/crm/v3/objects/contacts",
    "companies": "/crm/v3/objects/companies",
    "properties": "/crm/v3/properties/{objectType}",
    "associations": "/crm/v4",
    "webhooks": "/webhooks/v3/{appId}",
}


@dataclass(frozen=True)
class ObjectApi:
    """The CRM v3 object API of contacts or of companies."""

    api: str
    object_type: HubSpotObjectName
    id_param: str
    other: str

    @property
    def base(self) -> str:
        return f"/crm/v3/objects/{self.api}"

    @property
    def item(self) -> str:
        return f"{self.base}/{{{self.id_param}}}"

    def props(self, n: int) -> dict[str, str]:
        if self.object_type == "contact":
            return {"email": f"person{n}@example.com", "firstname": f"Person{n}", "lastname": "Tester"}
        return {"name": f"Company {n}", "domain": f"company{n}.example.com", "industry": "INTERNET"}

    def add(self, sandbox: LiveSandbox, n: int, **extra: str) -> str:
        record = sandbox.store.create(self.object_type, {**self.props(n), **extra}, WRITER)
        return str(record.id)

    def add_other(self, sandbox: LiveSandbox, n: int) -> str:
        return OBJECT_APIS[self.other].add(sandbox, n)

    def link(self, sandbox: LiveSandbox, own: str, other: str, *, primary: bool = False) -> None:
        contact, company = (own, other) if self.object_type == "contact" else (other, own)
        sandbox.store.associate(int(contact), int(company), WRITER, primary=primary)

    @property
    def to_other_type_id(self) -> int:
        """HubSpot's unlabeled association type from this object type to the other."""
        return 279 if self.object_type == "contact" else 280

    def unique_property(self, sandbox: LiveSandbox) -> str:
        """A custom unique-value property (the one hubsync creates), defined on the fly."""
        group = "contactinformation" if self.object_type == "contact" else "companyinformation"
        sandbox.state.registry.create(
            self.object_type,
            {
                "name": "hubsync_record_id",
                "label": "hubsync record id",
                "type": "string",
                "fieldType": "text",
                "groupName": group,
                "hasUniqueValue": True,
            },
        )
        return "hubsync_record_id"


OBJECT_APIS = {
    "contacts": ObjectApi("contacts", "contact", "contactId", "companies"),
    "companies": ObjectApi("companies", "company", "companyId", "contacts"),
}


def _has_paging(body: Any) -> None:
    assert body["paging"]["next"]["after"], body


def _num_errors(n: int) -> Callable[[Any], None]:
    def check(body: Any) -> None:
        assert body["numErrors"] == n and len(body["errors"]) == n, body

    return check


def _existing_id(body: Any) -> None:
    assert "Existing ID:" in body["message"], body


def _category(category: str) -> Callable[[Any], None]:
    def check(body: Any) -> None:
        assert body["category"] == category, body

    return check


def object_cases(o: ObjectApi) -> list[Case]:
    api, base, item, idp = o.api, o.base, o.item, o.id_param
    other_api = o.other

    def c(method: str, path: str, status: int, prepare: Callable[[LiveSandbox], Call], **kw: Any) -> Case:
        return Case(api, method, path, status, prepare, **kw)

    def three(sb: LiveSandbox) -> list[str]:
        return [o.add(sb, n) for n in range(3)]

    def list_page(sb: LiveSandbox) -> Call:
        first = three(sb)[0]
        o.link(sb, first, o.add_other(sb, 9))
        prop = next(iter(o.props(0)))
        return Call(
            query=[
                ("limit", "2"),
                ("properties", prop),
                ("propertiesWithHistory", prop),
                ("associations", other_api),
                ("archived", "false"),
            ]
        )

    def listed_with_associations(body: Any) -> None:
        _has_paging(body)
        assert len(body["results"]) == 2, body
        assert body["results"][0]["associations"][other_api]["results"], body
        assert body["results"][0]["propertiesWithHistory"], body

    def read_with_history_and_associations(body: Any) -> None:
        history = next(iter(body["propertiesWithHistory"].values()))
        assert len(history) == 2 and history[0]["value"] == "Changed", history
        types = {a["type"] for a in body["associations"][other_api]["results"]}
        assert len(types) == 2, types  # the primary and the unlabeled association

    def create(sb: LiveSandbox) -> Call:
        other = o.add_other(sb, 1)
        association = {
            "to": {"id": other},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": o.to_other_type_id}],
        }
        return Call(body={"properties": o.props(0), "associations": [association]})

    def get_one(sb: LiveSandbox) -> Call:
        record = o.add(sb, 0)
        o.link(sb, record, o.add_other(sb, 1), primary=True)
        changed = "firstname" if o.object_type == "contact" else "name"
        sb.store.update(o.object_type, record, {changed: "Changed"}, WRITER)
        return Call(
            params={idp: record},
            query=[
                ("properties", next(iter(o.props(0)))),
                ("propertiesWithHistory", changed),
                ("associations", other_api),
            ],
        )

    def duplicate_create(sb: LiveSandbox) -> Call:
        if o.object_type == "contact":
            o.add(sb, 0)
            return Call(body={"properties": {"email": "PERSON0@example.com"}, "associations": []})
        name = o.unique_property(sb)
        o.add(sb, 0, **{name: "key-1"})
        return Call(body={"properties": {**o.props(1), name: "key-1"}, "associations": []})

    def duplicate_update(sb: LiveSandbox) -> Call:
        if o.object_type == "contact":
            o.add(sb, 0)
            second = o.add(sb, 1)
            return Call(params={idp: second}, body={"properties": {"email": "person0@example.com"}})
        name = o.unique_property(sb)
        o.add(sb, 0, **{name: "key-1"})
        second = o.add(sb, 1)
        return Call(params={idp: second}, body={"properties": {name: "key-1"}})

    def upsert(sb: LiveSandbox) -> Call:
        if o.object_type == "contact":
            o.add(sb, 0)
            inputs = [
                {"idProperty": "email", "id": "person0@example.com", "properties": {"firstname": "Again"}},
                {"idProperty": "email", "id": "new@example.com", "properties": {"firstname": "New"}},
            ]
        else:
            name = o.unique_property(sb)
            o.add(sb, 0, **{name: "key-0"})
            inputs = [
                {"idProperty": name, "id": "key-0", "properties": {"name": "Again"}},
                {
                    "idProperty": name,
                    "id": "key-9",
                    "properties": {"name": "New"},
                    "objectWriteTraceId": "t9",
                },
            ]
        return Call(body={"inputs": inputs})

    def upsert_partial(sb: LiveSandbox) -> Call:
        call = upsert(sb)
        bad = {**call.body["inputs"][1], "properties": {"hs_object_id": "5"}}
        return Call(body={"inputs": [call.body["inputs"][0], bad]})

    def search(sb: LiveSandbox) -> Call:
        three(sb)
        o.add(sb, 7, **({"lastname": "Other"} if o.object_type == "contact" else {"industry": "RETAIL"}))
        prop, value = ("lastname", "Tester") if o.object_type == "contact" else ("industry", "INTERNET")
        return Call(
            body={
                "filterGroups": [
                    {"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]},
                    {"filters": [{"propertyName": "hs_object_id", "operator": "IN", "values": ["1", "2"]}]},
                ],
                "sorts": ["-hs_object_id"],
                "properties": [prop],
                "limit": 2,
                "after": "0",
            }
        )

    def search_page_2(sb: LiveSandbox) -> Call:
        call = search(sb)
        return Call(body={**call.body, "after": "2", "query": ""})

    def bad_search(sb: LiveSandbox) -> Call:
        del sb
        groups = [{"filters": [{"propertyName": "no_such_property", "operator": "HAS_PROPERTY"}]}]
        return Call(body={"filterGroups": groups, "sorts": [], "properties": [], "limit": 10, "after": "0"})

    def by_email(sb: LiveSandbox, call: Callable[[str], Call]) -> Call:
        """A call naming a new contact by its email, in other letter case than stored."""
        o.add(sb, 0)
        return call("Person0@Example.com")

    def merge_with_itself(sb: LiveSandbox) -> Call:
        record = o.add(sb, 0)
        return Call(body={"primaryObjectId": record, "objectIdToMerge": record})

    def merge(sb: LiveSandbox) -> Call:
        a, b = o.add(sb, 0), o.add(sb, 1)
        return Call(body={"primaryObjectId": a, "objectIdToMerge": b})

    def batch_read(sb: LiveSandbox, *ids: str) -> Call:
        prop = next(iter(o.props(0)))
        return Call(
            query=[("archived", "false")],
            body={"inputs": [{"id": i} for i in ids], "properties": [prop], "propertiesWithHistory": [prop]},
        )

    cases = [
        c("GET", base, 200, list_page, check=listed_with_associations),
        c("GET", base, 200, lambda sb: Call(query=[("after", "2"), ("limit", "100")]), variant="empty"),
        c("GET", base, 400, lambda sb: Call(query=[("limit", "1000")]), variant="limit-too-large"),
        c(
            "GET",
            base,
            400,
            lambda sb: Call(query=[("limit", "ten")]),
            variant="limit-not-int",
            valid_request=False,
        ),
        c("POST", base, 201, create),
        c(
            "POST",
            base,
            400,
            lambda sb: Call(body={"properties": {"no_such_property": "x"}, "associations": []}),
            variant="unknown-property",
            check=_category("VALIDATION_ERROR"),
        ),
        c(
            "POST",
            base,
            400,
            lambda sb: Call(body={"properties": {"email": ["a"]}, "associations": []}),
            variant="schema",
            valid_request=False,
        ),
        c(
            "POST",
            base,
            400,
            lambda sb: Call(body=b'{"properties": {"email": '),
            variant="malformed-json",
            valid_request=False,
        ),
        c("POST", base, 409, duplicate_create, variant="duplicate", check=_existing_id),
        c("GET", item, 200, get_one, check=read_with_history_and_associations),
        c("GET", item, 404, lambda sb: Call(params={idp: "424242"})),
        c("PATCH", item, 200, lambda sb: Call(params={idp: o.add(sb, 0)}, body={"properties": o.props(5)})),
        c("PATCH", item, 404, lambda sb: Call(params={idp: "424242"}, body={"properties": o.props(5)})),
        c(
            "PATCH",
            item,
            400,
            lambda sb: Call(params={idp: o.add(sb, 0)}, body={"properties": {"createdate": "1"}}),
            variant="read-only",
        ),
        c("PATCH", item, 409, duplicate_update, variant="duplicate", check=_existing_id),
        c("DELETE", item, 204, lambda sb: Call(params={idp: o.add(sb, 0)})),
        c(
            "POST",
            f"{base}/batch/read",
            200,
            lambda sb: batch_read(sb, *three(sb)),
        ),
        c(
            "POST",
            f"{base}/batch/read",
            207,
            lambda sb: batch_read(sb, three(sb)[0], "424242"),
            variant="missing-ids",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{base}/batch/read",
            400,
            lambda sb: batch_read(sb, *[str(i) for i in range(1, 102)]),
            variant="too-many-inputs",
        ),
        c(
            "POST",
            f"{base}/batch/create",
            201,
            lambda sb: Call(
                body={
                    "inputs": [
                        {"properties": o.props(n), "associations": [], "objectWriteTraceId": f"t{n}"}
                        for n in range(3)
                    ]
                }
            ),
        ),
        c(
            "POST",
            f"{base}/batch/create",
            207,
            lambda sb: Call(
                body={
                    "inputs": [
                        {"properties": o.props(0), "associations": []},
                        {"properties": {"no_such_property": "x"}, "associations": []},
                    ]
                }
            ),
            variant="partial",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{base}/batch/create",
            400,
            lambda sb: Call(body={}),
            variant="no-inputs",
            valid_request=False,
        ),
        c(
            "POST",
            f"{base}/batch/update",
            200,
            lambda sb: Call(
                body={
                    "inputs": [
                        {
                            "id": i,
                            "properties": {"lastname" if o.object_type == "contact" else "name": "X"},
                            "objectWriteTraceId": "u",
                        }
                        for i in three(sb)
                    ]
                }
            ),
        ),
        c(
            "POST",
            f"{base}/batch/update",
            207,
            lambda sb: Call(
                body={
                    "inputs": [
                        {"id": three(sb)[0], "properties": o.props(8)},
                        {"id": "424242", "properties": o.props(9)},
                    ]
                }
            ),
            variant="missing-id",
            check=_num_errors(1),
        ),
        c("POST", f"{base}/batch/upsert", 200, upsert),
        c("POST", f"{base}/batch/upsert", 207, upsert_partial, variant="partial", check=_num_errors(1)),
        c(
            "POST",
            f"{base}/batch/archive",
            204,
            lambda sb: Call(body={"inputs": [{"id": i} for i in three(sb)]}),
        ),
        c("POST", f"{base}/search", 200, search, check=_has_paging),
        c("POST", f"{base}/search", 200, search_page_2, variant="page-2"),
        c("POST", f"{base}/search", 400, bad_search, variant="unknown-property"),
        c("POST", f"{base}/merge", 200, merge),
        c(
            "POST",
            f"{base}/merge",
            400,
            merge_with_itself,
            variant="self",
        ),
        c(
            "POST",
            f"{base}/merge",
            404,
            lambda sb: Call(body={"primaryObjectId": o.add(sb, 0), "objectIdToMerge": "424242"}),
        ),
    ]
    if o.object_type == "contact":
        cases += [
            c(
                "GET",
                item,
                200,
                lambda sb: by_email(
                    sb, lambda email: Call(params={idp: email}, query=[("idProperty", "email")])
                ),
                variant="by-email",
            ),
            c("POST", f"{base}/gdpr-delete", 204, lambda sb: Call(body={"objectId": o.add(sb, 0)})),
            c(
                "POST",
                f"{base}/gdpr-delete",
                204,
                lambda sb: by_email(sb, lambda email: Call(body={"objectId": email, "idProperty": "email"})),
                variant="by-email",
            ),
            c("POST", f"{base}/gdpr-delete", 404, lambda sb: Call(body={"objectId": "424242"})),
        ]
    return cases


def _prop_create(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        **extra,
    }


def _enum_create(name: str) -> dict[str, Any]:
    options = [
        {"label": "Gold", "value": "gold", "hidden": False, "displayOrder": 0},
        {"label": "Silver", "value": "silver", "hidden": False, "displayOrder": 1},
    ]
    return _prop_create(name, type="enumeration", fieldType="select", options=options)


def _define(sb: LiveSandbox, body: Mapping[str, Any], object_type: HubSpotObjectName = "contact") -> str:
    return sb.state.registry.create(object_type, body).name


def property_cases() -> list[Case]:
    base = "/crm/v3/properties/{objectType}"
    named = f"{base}/{{propertyName}}"
    groups = f"{base}/groups"
    group = f"{groups}/{{groupName}}"
    contacts = {"objectType": "contacts"}

    def c(method: str, path: str, status: int, prepare: Callable[[LiveSandbox], Call], **kw: Any) -> Case:
        return Case("properties", method, path, status, prepare, **kw)

    def custom_group(sb: LiveSandbox) -> str:
        return sb.state.registry.put_group("contact", _group("hubsync_group"), create=True).name

    return [
        c("GET", base, 200, lambda sb: Call(params=contacts, query=[("archived", "false")])),
        c("GET", base, 200, lambda sb: Call(params={"objectType": "0-2"}), variant="companies-by-type-id"),
        c(
            "GET",
            base,
            200,
            lambda sb: Call(params=contacts, query=[("properties", "email,firstname")]),
            variant="some",
        ),
        c(
            "GET",
            base,
            400,
            lambda sb: Call(params={"objectType": "no_such_objects"}),
            variant="unknown-type",
        ),
        c(
            "POST",
            base,
            201,
            lambda sb: Call(params=contacts, body=_prop_create("hubsync_record_id", hasUniqueValue=True)),
        ),
        c(
            "POST",
            base,
            201,
            lambda sb: Call(params=contacts, body=_enum_create("hubsync_tier")),
            variant="enumeration",
        ),
        c(
            "POST",
            base,
            409,
            lambda sb: Call(params=contacts, body=_prop_create(_define(sb, _prop_create("hubsync_x")))),
            variant="exists",
        ),
        c(
            "POST",
            base,
            400,
            lambda sb: Call(params=contacts, body=_prop_create("hubsync_x", groupName="no_such_group")),
            variant="unknown-group",
        ),
        c(
            "POST",
            base,
            400,
            lambda sb: Call(params=contacts, body={"name": "hubsync_x", "label": "x"}),
            variant="missing-fields",
            valid_request=False,
        ),
        c("GET", named, 200, lambda sb: Call(params={**contacts, "propertyName": "email"})),
        c(
            "GET",
            named,
            200,
            lambda sb: Call(params={"objectType": "companies", "propertyName": "industry"}),
            variant="enumeration",
        ),
        c("GET", named, 404, lambda sb: Call(params={**contacts, "propertyName": "no_such_property"})),
        c(
            "PATCH",
            named,
            200,
            lambda sb: Call(
                params={**contacts, "propertyName": _define(sb, _enum_create("hubsync_tier"))},
                body={"label": "Tier", "options": [{"label": "Bronze", "value": "bronze", "hidden": False}]},
            ),
        ),
        c(
            "PATCH",
            named,
            404,
            lambda sb: Call(params={**contacts, "propertyName": "no_such_property"}, body={"label": "x"}),
        ),
        c(
            "PATCH",
            named,
            400,
            lambda sb: Call(
                params={**contacts, "propertyName": "email"}, body={"type": "number", "fieldType": "number"}
            ),
            variant="hubspot-defined",
        ),
        c(
            "DELETE",
            named,
            204,
            lambda sb: Call(params={**contacts, "propertyName": _define(sb, _prop_create("hubsync_x"))}),
        ),
        c(
            "DELETE",
            named,
            400,
            lambda sb: Call(params={**contacts, "propertyName": "email"}),
            variant="hubspot-defined",
        ),
        c("DELETE", named, 404, lambda sb: Call(params={**contacts, "propertyName": "no_such_property"})),
        c(
            "POST",
            f"{base}/batch/read",
            200,
            lambda sb: Call(
                params=contacts,
                body={
                    "archived": False,
                    "dataSensitivity": "non_sensitive",
                    "inputs": [{"name": "email"}, {"name": "firstname"}],
                },
            ),
        ),
        c(
            "POST",
            f"{base}/batch/read",
            200,
            lambda sb: Call(
                params=contacts,
                body={
                    "archived": True,
                    "dataSensitivity": "non_sensitive",
                    "inputs": [{"name": _archived_property(sb)}],
                },
            ),
            variant="archived",
        ),
        c(
            "POST",
            f"{base}/batch/read",
            207,
            lambda sb: Call(
                params=contacts,
                body={
                    "archived": False,
                    "dataSensitivity": "non_sensitive",
                    "inputs": [{"name": "email"}, {"name": "nope"}],
                },
            ),
            variant="missing",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{base}/batch/create",
            201,
            lambda sb: Call(
                params=contacts, body={"inputs": [_prop_create("hubsync_a"), _enum_create("hubsync_b")]}
            ),
        ),
        c(
            "POST",
            f"{base}/batch/create",
            207,
            lambda sb: Call(
                params=contacts, body={"inputs": [_prop_create("hubsync_a"), _prop_create("email")]}
            ),
            variant="partial",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{base}/batch/archive",
            204,
            lambda sb: Call(
                params=contacts, body={"inputs": [{"name": _define(sb, _prop_create("hubsync_x"))}]}
            ),
        ),
        c("GET", groups, 200, lambda sb: Call(params=contacts)),
        c(
            "POST",
            groups,
            201,
            lambda sb: Call(
                params=contacts, body={"name": "hubsync_group", "label": "hubsync", "displayOrder": 3}
            ),
        ),
        c(
            "POST",
            groups,
            409,
            lambda sb: Call(params=contacts, body={"name": custom_group(sb), "label": "again"}),
            variant="exists",
        ),
        c(
            "POST",
            groups,
            400,
            lambda sb: Call(params=contacts, body={"name": "Not A Name!", "label": "x"}),
            variant="bad-name",
        ),
        c("GET", group, 200, lambda sb: Call(params={**contacts, "groupName": "contactinformation"})),
        c("GET", group, 404, lambda sb: Call(params={**contacts, "groupName": "no_such_group"})),
        c(
            "PATCH",
            group,
            200,
            lambda sb: Call(
                params={**contacts, "groupName": custom_group(sb)},
                body={"label": "Renamed", "displayOrder": 1},
            ),
        ),
        c(
            "PATCH",
            group,
            404,
            lambda sb: Call(params={**contacts, "groupName": "no_such_group"}, body={"label": "x"}),
        ),
        c("DELETE", group, 204, lambda sb: Call(params={**contacts, "groupName": custom_group(sb)})),
        c("DELETE", group, 404, lambda sb: Call(params={**contacts, "groupName": "no_such_group"})),
    ]


def _group(name: str) -> PropertyGroup:
    return PropertyGroup(name, name.replace("_", " ").title(), 9)


def _archived_property(sb: LiveSandbox) -> str:
    name = _define(sb, _prop_create("hubsync_old"))
    sb.state.registry.archive("contact", name)
    return name


def association_cases() -> list[Case]:
    batch = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
    default = (
        "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}"
    )
    page = "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}"
    labeled = f"{page}/{{toObjectId}}"
    contacts, companies = OBJECT_APIS["contacts"], OBJECT_APIS["companies"]
    c2c = {"fromObjectType": "contacts", "toObjectType": "companies"}
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    unlabeled = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]

    def c(method: str, path: str, status: int, prepare: Callable[[LiveSandbox], Call], **kw: Any) -> Case:
        return Case("associations", method, path, status, prepare, **kw)

    def pair(sb: LiveSandbox, *, linked: bool = False, primary_label: bool = False) -> tuple[str, str]:
        contact, company = contacts.add(sb, 0), companies.add(sb, 0)
        if linked:
            sb.store.associate(int(contact), int(company), WRITER, primary=primary_label)
        return contact, company

    def company_with_contacts(sb: LiveSandbox) -> Call:
        company = companies.add(sb, 0)
        for n in range(3):
            sb.store.associate(int(contacts.add(sb, n)), int(company), WRITER, primary=n == 0)
        return Call(
            params={"objectType": "companies", "objectId": company, "toObjectType": "contacts"},
            query=[("limit", "2")],
        )

    def labeled_call(sb: LiveSandbox, types: list[dict[str, Any]], **kw: Any) -> Call:
        contact, company = pair(sb)
        params = {
            "objectType": "contacts",
            "objectId": contact,
            "toObjectType": "companies",
            "toObjectId": company,
        }
        return Call(params={**params, **kw}, body=types)

    def three_pairs(sb: LiveSandbox) -> list[tuple[str, str]]:
        """Three (contact, company) pairs, not associated."""
        return [(contacts.add(sb, k), companies.add(sb, k)) for k in range(3)]

    def linked_batch(sb: LiveSandbox) -> list[tuple[str, str]]:
        linked = three_pairs(sb)
        for contact, company in linked:
            sb.store.associate(int(contact), int(company), WRITER, primary=True)
        return linked

    return [
        c(
            "PUT",
            default,
            200,
            lambda sb: Call(params=dict(zip(("fromObjectId", "toObjectId"), pair(sb), strict=True)) | c2c),
        ),
        c(
            "PUT",
            default,
            200,
            lambda sb: Call(
                params={
                    "fromObjectType": "companies",
                    "toObjectType": "contacts",
                    "fromObjectId": pair(sb)[1],
                    "toObjectId": "1",
                }
            ),
            variant="from-company",
        ),
        c(
            "PUT",
            default,
            404,
            lambda sb: Call(params={**c2c, "fromObjectId": pair(sb)[0], "toObjectId": "424242"}),
        ),
        c(
            "PUT",
            default,
            400,
            lambda sb: Call(params={**c2c, "fromObjectId": "abc", "toObjectId": "1"}),
            variant="bad-id",
        ),
        c("GET", page, 200, company_with_contacts, check=_has_paging),
        c(
            "GET",
            page,
            200,
            lambda sb: Call(
                params={
                    "objectType": "contacts",
                    "objectId": pair(sb, linked=True, primary_label=True)[0],
                    "toObjectType": "companies",
                }
            ),
            variant="primary",
        ),
        c(
            "GET",
            page,
            404,
            lambda sb: Call(
                params={"objectType": "contacts", "objectId": "424242", "toObjectType": "companies"}
            ),
        ),
        c("PUT", labeled, 201, lambda sb: labeled_call(sb, primary)),
        c("PUT", labeled, 201, lambda sb: labeled_call(sb, unlabeled), variant="unlabeled"),
        c(
            "PUT",
            labeled,
            400,
            lambda sb: labeled_call(sb, [{"associationCategory": "USER_DEFINED", "associationTypeId": 999}]),
            variant="unknown-type",
        ),
        c("PUT", labeled, 404, lambda sb: labeled_call(sb, primary, toObjectId="424242")),
        c(
            "DELETE",
            labeled,
            204,
            lambda sb: Call(
                params=dict(zip(("objectId", "toObjectId"), pair(sb, linked=True), strict=True))
                | {"objectType": "contacts", "toObjectType": "companies"}
            ),
        ),
        c(
            "POST",
            f"{batch}/create",
            201,
            lambda sb: Call(
                params=c2c,
                body={
                    "inputs": [
                        {"from": {"id": a}, "to": {"id": b}, "types": primary} for a, b in three_pairs(sb)
                    ]
                },
            ),
        ),
        c(
            "POST",
            f"{batch}/create",
            207,
            lambda sb: Call(
                params=c2c,
                body={
                    "inputs": [
                        {"from": {"id": pair(sb)[0]}, "to": {"id": "1"}, "types": unlabeled},
                        {"from": {"id": "424242"}, "to": {"id": "1"}, "types": unlabeled},
                    ]
                },
            ),
            variant="partial",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{batch}/associate/default",
            200,
            lambda sb: Call(
                params=c2c,
                body={"inputs": [{"from": {"id": a}, "to": {"id": b}} for a, b in three_pairs(sb)]},
            ),
        ),
        c(
            "POST",
            f"{batch}/read",
            200,
            lambda sb: Call(params=c2c, body={"inputs": [{"id": a} for a, _ in linked_batch(sb)]}),
        ),
        c(
            "POST",
            f"{batch}/read",
            207,
            lambda sb: Call(
                params=c2c, body={"inputs": [{"id": linked_batch(sb)[0][0]}, {"id": contacts.add(sb, 50)}]}
            ),
            variant="unassociated",
            check=_num_errors(1),
        ),
        c(
            "POST",
            f"{batch}/archive",
            204,
            lambda sb: Call(
                params=c2c,
                body={"inputs": [{"from": {"id": a}, "to": [{"id": b}]} for a, b in linked_batch(sb)]},
            ),
        ),
        c(
            "POST",
            f"{batch}/labels/archive",
            204,
            lambda sb: Call(
                params=c2c,
                body={
                    "inputs": [
                        {"from": {"id": a}, "to": {"id": b}, "types": primary} for a, b in linked_batch(sb)
                    ]
                },
            ),
        ),
        c(
            "POST",
            f"{batch}/create",
            400,
            lambda sb: Call(params=c2c, body={"inputs": "nope"}),
            variant="schema",
            valid_request=False,
        ),
    ]


CASES: list[Case] = [
    *object_cases(OBJECT_APIS["contacts"]),
    *object_cases(OBJECT_APIS["companies"]),
    *property_cases(),
    *association_cases(),
]


# ---- sending ----------------------------------------------------------------------------------


def send(
    sandbox: LiveSandbox,
    method: str,
    template: str,
    call: Call,
    headers: Mapping[str, str] = AUTH,
) -> httpx.Response:
    url = template.format(**{k: quote(v, safe="") for k, v in call.params.items()})
    kwargs: dict[str, Any] = {}
    if isinstance(call.body, bytes):
        kwargs["content"] = call.body
        headers = {**headers, "Content-Type": "application/json"}
    elif call.body is not NO_BODY:
        kwargs["json"] = call.body
    return sandbox.http.request(method, url, params=list(call.query), headers=dict(headers), **kwargs)
