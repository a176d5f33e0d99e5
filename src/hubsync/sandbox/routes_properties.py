"""Properties v3 API: definitions and groups of contact and company properties (the default
definitions of the other standard objects, read-only), the legacy v2 property lists of contacts
and companies, and the (empty) custom object schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.hubspot_model.properties import Property, PropertyGroup
from hubsync.hubspot_model.standard_objects import STANDARD_OBJECT_NAMES, StandardObject
from hubsync.sandbox.errors import HubSpotApiError, validation_error
from hubsync.sandbox.httpio import inputs_of, json_object, object_type_of, query_bool
from hubsync.sandbox.property_io import group_from_json, group_to_json, property_to_json
from hubsync.sandbox.routes_crm import json_response
from hubsync.sandbox.state import SandboxState, state_of
from hubsync.sandbox.views import batch_json

_PREFIX = "/crm/v3/properties/{object_type}"


def _ctx(request: web.Request) -> tuple[SandboxState, Any]:
    return state_of(request), object_type_of(request.match_info["object_type"])


def _standard(request: web.Request) -> StandardObject | None:
    """The other standard object (deals, tickets, ...) the path names, if it names one."""
    return STANDARD_OBJECT_NAMES.get(request.match_info["object_type"].lower())


def _standard_property(standard: StandardObject, name: str) -> Property:
    for prop in standard.properties:
        if prop.name == name:
            return prop
    raise HubSpotApiError(
        404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {standard.name}"
    )


async def get_all(request: web.Request) -> web.Response:
    standard = _standard(request)
    if standard is not None:
        return json_response({"results": [property_to_json(p) for p in standard.properties]})
    state, object_type = _ctx(request)
    wanted = {p.strip() for p in request.query.get("properties", "").split(",") if p.strip()}
    props = state.registry.definitions(object_type, archived=query_bool(request, "archived"))
    return json_response({"results": [property_to_json(p) for p in props if not wanted or p.name in wanted]})


async def create(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    prop = state.registry.create(object_type, await json_object(request))
    return json_response(property_to_json(prop), status=201)


async def get_by_name(request: web.Request) -> web.Response:
    standard = _standard(request)
    if standard is not None:
        return json_response(property_to_json(_standard_property(standard, request.match_info["name"])))
    state, object_type = _ctx(request)
    prop = state.registry.get(
        object_type, request.match_info["name"], archived=query_bool(request, "archived")
    )
    return json_response(property_to_json(prop))


async def update(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    prop = state.registry.update(object_type, request.match_info["name"], await json_object(request))
    return json_response(property_to_json(prop))


async def archive(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    state.registry.archive(object_type, request.match_info["name"])
    return web.Response(status=204)


async def batch_read(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    body = await json_object(request)
    archived = body.get("archived") is True
    started = state.store.clock()
    results, missing = [], []
    for item in inputs_of(body, state.config.batch_limit):
        name = str(item.get("name", "")) if isinstance(item, Mapping) else ""
        prop = state.registry.find(object_type, name, archived=archived)
        if prop is None:
            missing.append(name)
        else:
            results.append(property_to_json(prop))
    errors = (
        [
            HubSpotApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find properties: {', '.join(missing)}",
                context={"properties": missing},
            )
        ]
        if missing
        else []
    )
    return json_response(
        batch_json(results, errors, started, state.store.clock()), status=207 if errors else 200
    )


async def batch_create(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    body = await json_object(request)
    started = state.store.clock()
    results, errors = [], []
    for item in inputs_of(body, state.config.batch_limit):
        try:
            if not isinstance(item, Mapping):
                raise validation_error("Each input must be a property definition")
            results.append(property_to_json(state.registry.create(object_type, item)))
        except HubSpotApiError as error:
            errors.append(error)
    return json_response(
        batch_json(results, errors, started, state.store.clock()), status=207 if errors else 201
    )


async def batch_archive(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    for item in inputs_of(await json_object(request), state.config.batch_limit):
        name = str(item.get("name", "")) if isinstance(item, Mapping) else ""
        if state.registry.find(object_type, name) is not None:
            state.registry.archive(object_type, name)
    return web.Response(status=204)


async def groups_get_all(request: web.Request) -> web.Response:
    standard = _standard(request)
    if standard is not None:
        groups = [PropertyGroup(name=g, label=g, display_order=i) for i, g in enumerate(standard.groups)]
        return json_response({"results": [group_to_json(g) for g in groups]})
    state, object_type = _ctx(request)
    return json_response({"results": [group_to_json(g) for g in state.registry.groups(object_type)]})


async def groups_create(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    group = state.registry.put_group(object_type, group_from_json(await json_object(request)), create=True)
    return json_response(group_to_json(group), status=201)


async def groups_get(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    return json_response(group_to_json(state.registry.group(object_type, request.match_info["group"])))


async def groups_update(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    current = state.registry.group(object_type, request.match_info["group"])
    body = {k: v for k, v in (await json_object(request)).items() if k != "name"}
    group = state.registry.put_group(object_type, group_from_json(body, base=current), create=False)
    return json_response(group_to_json(group))


async def groups_archive(request: web.Request) -> web.Response:
    state, object_type = _ctx(request)
    state.registry.archive_group(object_type, request.match_info["group"])
    return web.Response(status=204)


async def schemas_get_all(request: web.Request) -> web.Response:
    """Custom object schemas: a portal without custom objects answers an empty list."""
    del request
    return json_response({"results": []})


def property_to_v2(prop: Property) -> dict[str, Any]:
    """A definition as the legacy ``/properties/v2`` API shows it."""
    return {
        "name": prop.name,
        "label": prop.label,
        "description": prop.description,
        "groupName": prop.group_name,
        "type": prop.type,
        "fieldType": prop.field_type,
        "options": [
            {
                "label": o.label,
                "value": o.value,
                "displayOrder": o.display_order,
                "hidden": o.hidden,
                "description": o.description,
                "readOnly": prop.hubspot_defined,
            }
            for o in prop.options
        ],
        "displayOrder": prop.display_order,
        "hidden": prop.hidden,
        "formField": prop.form_field,
        "readOnlyValue": prop.read_only or prop.calculated,
        "readOnlyDefinition": prop.hubspot_defined,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hubspotDefined": prop.hubspot_defined,
        "hasUniqueValue": prop.has_unique_value,
        "mutableDefinitionNotDeletable": prop.hubspot_defined,
        "deleted": prop.archived,
        "favorited": False,
        "createdAt": prop.created_ms or None,
        "updatedAt": prop.updated_ms or None,
    }


_V2_TYPES: dict[str, HubSpotObjectName] = {"contacts": "contact", "companies": "company"}


def _v2_type(request: web.Request) -> HubSpotObjectName:
    name = request.match_info["v2_object"]
    if name not in _V2_TYPES:
        raise HubSpotApiError(
            404, "OBJECT_NOT_FOUND", f"Unable to route GET /properties/v2/{name}/properties"
        )
    return _V2_TYPES[name]


async def v2_get_all(request: web.Request) -> web.Response:
    """``GET /properties/v2/{contacts,companies}/properties``: a JSON array, as v2 answers."""
    props = state_of(request).registry.definitions(_v2_type(request))
    return json_response([property_to_v2(p) for p in props])


async def v2_get_named(request: web.Request) -> web.Response:
    prop = state_of(request).registry.get(_v2_type(request), request.match_info["name"])
    return json_response(property_to_v2(prop))


def register_property_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/crm/v3/schemas", schemas_get_all)
    r.add_get("/properties/v2/{v2_object}/properties", v2_get_all)
    r.add_get("/properties/v2/{v2_object}/properties/named/{name}", v2_get_named)
    r.add_post(f"{_PREFIX}/batch/read", batch_read)
    r.add_post(f"{_PREFIX}/batch/create", batch_create)
    r.add_post(f"{_PREFIX}/batch/archive", batch_archive)
    r.add_get(f"{_PREFIX}/groups", groups_get_all)
    r.add_post(f"{_PREFIX}/groups", groups_create)
    r.add_get(f"{_PREFIX}/groups/{{group}}", groups_get)
    r.add_patch(f"{_PREFIX}/groups/{{group}}", groups_update)
    r.add_delete(f"{_PREFIX}/groups/{{group}}", groups_archive)
    r.add_get(_PREFIX, get_all)
    r.add_post(_PREFIX, create)
    r.add_get(f"{_PREFIX}/{{name}}", get_by_name)
    r.add_patch(f"{_PREFIX}/{{name}}", update)
    r.add_delete(f"{_PREFIX}/{{name}}", archive)
