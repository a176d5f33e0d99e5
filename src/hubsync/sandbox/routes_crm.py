"""CRM v3 object endpoints for contacts and companies: list, get, create, update, archive,
search, merge and the contacts GDPR delete. Batch endpoints are in routes_batch.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hubsync.hubspot_model.limits import LIST_PAGE_LIMIT
from hubsync.hubspot_model.objects import PLURAL, HubSpotObjectName
from hubsync.sandbox.associations import flags_for
from hubsync.sandbox.errors import HubSpotApiError, not_found, validation_error
from hubsync.sandbox.httpio import (
    json_object,
    json_response,
    object_type_of,
    optional_str,
    properties_of,
    query_bool,
    query_int,
    query_list,
)
from hubsync.sandbox.records import Record
from hubsync.sandbox.search import parse_search, run_search
from hubsync.sandbox.state import SandboxState, state_of
from hubsync.sandbox.tables import is_object_id
from hubsync.sandbox.views import RecordView, record_json

LIST_MAX_LIMIT = LIST_PAGE_LIMIT
_PREFIX = "/crm/v3/objects/{object_type}"


def _state(request: web.Request) -> SandboxState:
    return state_of(request)


def _assoc_types(request: web.Request) -> list[HubSpotObjectName]:
    """``associations`` of a read: object types the sandbox does not know are ignored, as HubSpot
    documents ("If any of the specified associations do not exist, they will be ignored")."""
    found: list[HubSpotObjectName] = []
    for name in query_list(request, "associations") or []:
        try:
            found.append(object_type_of(name))
        except HubSpotApiError:
            continue
    return found


def read_options(request: web.Request) -> dict[str, Any]:
    return {
        "properties": query_list(request, "properties"),
        "with_history": query_list(request, "propertiesWithHistory"),
        "associations": _assoc_types(request),
    }


def parse_associations(object_type: HubSpotObjectName, raw: object) -> list[tuple[int, int]]:
    """``associations`` of a create input -> (other record id, flags); checked before anything is written."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation_error("associations must be an array")
    parsed: list[tuple[int, int]] = []
    for item in raw:
        to = item.get("to") if isinstance(item, Mapping) else None
        to_id = str(to.get("id", "")) if isinstance(to, Mapping) else ""
        types = item.get("types") if isinstance(item, Mapping) else None
        if not is_object_id(to_id) or not isinstance(types, list) or not types:
            raise validation_error("Each association needs to.id and a non-empty types array")
        flags = 0
        for spec in types:
            type_id = spec.get("associationTypeId") if isinstance(spec, Mapping) else None
            flag = flags_for(object_type, type_id)
            if flag is None:
                raise validation_error(f"associationTypeId {type_id} is not valid from a {object_type}")
            flags |= flag
        parsed.append((int(to_id), flags))
    return parsed


def create_with_associations(
    state: SandboxState, object_type: HubSpotObjectName, properties: Mapping[str, Any], associations: object
) -> Record:
    store, writer = state.store, state.api_writer
    links = parse_associations(object_type, associations)
    other: HubSpotObjectName = "company" if object_type == "contact" else "contact"
    for to_id, _ in links:
        if store.find(other, to_id) is None:
            raise validation_error(f"Association target {other} {to_id} does not exist")
    record = store.create(object_type, properties, writer)
    for to_id, flags in links:
        contact, company = (record.id, to_id) if object_type == "contact" else (to_id, record.id)
        store.associate_flags(contact, company, flags, writer)
    return record


async def list_objects(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    limit = query_int(request, "limit", 10, minimum=1, maximum=LIST_MAX_LIMIT)
    after_raw = request.query.get("after") or "0"
    if not is_object_id(after_raw):
        raise validation_error(f"after must be a paging cursor from a previous response, got {after_raw}")
    archived = query_bool(request, "archived")
    records, next_id = state.store.page(object_type, int(after_raw), limit, archived=archived)
    view = RecordView(state.store, object_type, **read_options(request))
    body: dict[str, Any] = {"results": [view(r) for r in records]}
    if next_id is not None:
        body["paging"] = {"next": {"after": str(next_id), "link": f"?after={next_id}"}}
    return json_response(body)


async def get_object(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    archived = query_bool(request, "archived")
    record = state.store.get(
        object_type,
        request.match_info["object_id"],
        id_property=request.query.get("idProperty"),
        include_archived=archived,
    )
    if record.archived != archived:
        raise not_found()
    return json_response(record_json(state.store, object_type, record, **read_options(request)))


async def create_object(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    body = await json_object(request)
    record = create_with_associations(state, object_type, properties_of(body), body.get("associations"))
    return json_response(record_json(state.store, object_type, record, all_properties=True), status=201)


async def update_object(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    body = await json_object(request)
    record = state.store.update(
        object_type,
        request.match_info["object_id"],
        properties_of(body),
        state.api_writer,
        id_property=request.query.get("idProperty"),
    )
    return json_response(record_json(state.store, object_type, record, all_properties=True))


async def archive_object(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    try:
        state.store.archive(object_type, request.match_info["object_id"], state.api_writer)
    except HubSpotApiError as error:  # HubSpot answers 204 for an id that is already gone
        if error.status != 404:
            raise
    return web.Response(status=204)


async def search_objects(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    search = parse_search(state.store, object_type, await json_object(request))
    page = run_search(state.store, object_type, search)
    view = RecordView(state.store, object_type, properties=search.properties)
    body: dict[str, Any] = {"total": page.total, "results": [view(r) for r in page.records]}
    if page.next_after is not None:
        body["paging"] = {"next": {"after": page.next_after, "link": f"?after={page.next_after}"}}
    return json_response(body)


async def merge_objects(request: web.Request) -> web.Response:
    state = _state(request)
    object_type = object_type_of(request.match_info["object_type"])
    body = await json_object(request)
    primary, merged = body.get("primaryObjectId"), body.get("objectIdToMerge")
    if primary is None or merged is None:
        raise validation_error("primaryObjectId and objectIdToMerge are required")
    record = state.store.merge(object_type, str(primary), str(merged), state.api_writer)
    return json_response(record_json(state.store, object_type, record, all_properties=True))


async def gdpr_delete(request: web.Request) -> web.Response:
    state = _state(request)
    body = await json_object(request)
    object_id = body.get("objectId")
    if object_id is None:
        raise validation_error("objectId is required")
    state.store.gdpr_delete(
        str(object_id), state.api_writer, id_property=optional_str(body.get("idProperty"), "idProperty")
    )
    return web.Response(status=204)


def register_crm_routes(app: web.Application) -> None:
    app.router.add_post("/crm/v3/objects/contacts/gdpr-delete", gdpr_delete)
    app.router.add_post(f"{_PREFIX}/search", search_objects)
    app.router.add_post(f"{_PREFIX}/merge", merge_objects)
    app.router.add_get(_PREFIX, list_objects)
    app.router.add_post(_PREFIX, create_object)
    app.router.add_get(f"{_PREFIX}/{{object_id}}", get_object)
    app.router.add_patch(f"{_PREFIX}/{{object_id}}", update_object)
    app.router.add_delete(f"{_PREFIX}/{{object_id}}", archive_object)


__all__ = ["PLURAL", "create_with_associations", "json_response", "read_options", "register_crm_routes"]
