"""CRM v3 batch endpoints: read, create, update, upsert, archive (at most ``config.batch_limit`` inputs).

Inputs are processed one by one; failed ones are reported in ``errors`` (``StandardError``) with
``numErrors`` and the response becomes a 207, as HubSpot's multi-status answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.sandbox.errors import HubSpotApiError, validation_error
from hubsync.sandbox.httpio import (
    inputs_of,
    json_object,
    json_response,
    object_type_of,
    optional_str,
    properties_of,
    query_bool,
    string_list,
)
from hubsync.sandbox.records import Record
from hubsync.sandbox.routes_crm import create_with_associations
from hubsync.sandbox.state import SandboxState, state_of
from hubsync.sandbox.views import RecordView, batch_json

_PREFIX = "/crm/v3/objects/{object_type}/batch"
_LABEL = {"contact": "CONTACT", "company": "COMPANY"}


def _context(state: SandboxState, request: web.Request) -> tuple[SandboxState, HubSpotObjectName, int]:
    return state, object_type_of(request.match_info["object_type"]), state.config.batch_limit


def _respond(
    state: SandboxState,
    results: list[dict[str, Any]],
    errors: list[HubSpotApiError],
    started: int,
    ok_status: int,
) -> web.Response:
    body = batch_json(results, errors, started, state.store.clock())
    return json_response(body, status=207 if errors else ok_status)


def _each(
    inputs: list[Any],
    work: Callable[[Mapping[str, Any]], dict[str, Any]],
    ids: Callable[[Mapping[str, Any]], str | None],
) -> tuple[list[dict[str, Any]], list[HubSpotApiError]]:
    results: list[dict[str, Any]] = []
    errors: list[HubSpotApiError] = []
    for item in inputs:
        try:
            if not isinstance(item, Mapping):
                raise validation_error("Each input must be an object")
            results.append(work(item))
        except HubSpotApiError as error:
            key = ids(item) if isinstance(item, Mapping) else None
            if key is not None:
                error.context.setdefault("ids", [key])
            errors.append(error)
    return results, errors


async def batch_read(request: web.Request) -> web.Response:
    state, object_type, limit = _context(state_of(request), request)
    body = await json_object(request)
    inputs = inputs_of(body, limit)
    archived = query_bool(request, "archived")
    id_property = optional_str(body.get("idProperty"), "idProperty")
    props, history = string_list(body.get("properties")), string_list(body.get("propertiesWithHistory"))
    started = state.store.clock()
    view = RecordView(state.store, object_type, properties=props, with_history=history)
    results: dict[int, dict[str, Any]] = {}
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", "")) if isinstance(item, Mapping) else ""
        record = _find(state, object_type, key, id_property)
        if record is None or record.archived != archived:
            missing.append(key)
            continue
        if record.id not in results:
            results[record.id] = view(record)
    errors = []
    if missing:
        errors.append(
            HubSpotApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"Could not get some {_LABEL[object_type]} objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                context={"ids": missing},
            )
        )
    return _respond(state, list(results.values()), errors, started, 200)


def _find(
    state: SandboxState, object_type: HubSpotObjectName, key: str, id_property: str | None
) -> Record | None:
    try:
        return state.store.get(object_type, key, id_property=id_property, include_archived=True)
    except HubSpotApiError as error:
        if error.status == 404:
            return None
        raise


def _traced(item: Mapping[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Echo the input's ``objectWriteTraceId`` on its result, as HubSpot does."""
    if item.get("objectWriteTraceId"):
        body["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return body


async def batch_create(request: web.Request) -> web.Response:
    state, object_type, limit = _context(state_of(request), request)
    inputs = inputs_of(await json_object(request), limit)
    started = state.store.clock()
    view = RecordView(state.store, object_type, all_properties=True)

    def create(item: Mapping[str, Any]) -> dict[str, Any]:
        record = create_with_associations(state, object_type, properties_of(item), item.get("associations"))
        return _traced(item, view(record))

    results, errors = _each(inputs, create, lambda _item: None)
    return _respond(state, results, errors, started, 201)


async def batch_update(request: web.Request) -> web.Response:
    state, object_type, limit = _context(state_of(request), request)
    inputs = inputs_of(await json_object(request), limit)
    started = state.store.clock()
    view = RecordView(state.store, object_type, all_properties=True)

    def update(item: Mapping[str, Any]) -> dict[str, Any]:
        if item.get("id") is None:
            raise validation_error("Each input needs an id")
        record = state.store.update(
            object_type,
            str(item["id"]),
            properties_of(item),
            state.api_writer,
            id_property=optional_str(item.get("idProperty"), "idProperty"),
        )
        return _traced(item, view(record))

    results, errors = _each(inputs, update, lambda item: str(item.get("id")))
    return _respond(state, results, errors, started, 200)


async def batch_upsert(request: web.Request) -> web.Response:
    """Update the record whose ``idProperty`` equals ``id``, or create it with that value."""
    state, object_type, limit = _context(state_of(request), request)
    inputs = inputs_of(await json_object(request), limit)
    keys = [(str(i.get("idProperty")), str(i.get("id"))) for i in inputs if isinstance(i, Mapping)]
    if len(keys) != len(set(keys)):
        raise validation_error("Duplicate IDs found in batch input: each id may appear once per request")
    started = state.store.clock()
    view = RecordView(state.store, object_type, all_properties=True)

    def upsert(item: Mapping[str, Any]) -> dict[str, Any]:
        id_property, key = optional_str(item.get("idProperty"), "idProperty"), item.get("id")
        if not id_property or key is None:
            raise validation_error("Each upsert input needs id and idProperty")
        properties = properties_of(item)
        existing = _find(state, object_type, str(key), str(id_property))
        if existing is not None and not existing.archived:
            record = state.store.update(object_type, existing.id, properties, state.api_writer)
            created = False
        else:
            record = state.store.create(
                object_type, {**properties, str(id_property): str(key)}, state.api_writer
            )
            created = True
        return _traced(item, {**view(record), "new": created})

    results, errors = _each(inputs, upsert, lambda item: str(item.get("id")))
    return _respond(state, results, errors, started, 200)


async def batch_archive(request: web.Request) -> web.Response:
    state, object_type, limit = _context(state_of(request), request)
    for item in inputs_of(await json_object(request), limit):
        key = str(item.get("id", "")) if isinstance(item, Mapping) else ""
        record = _find(state, object_type, key, None)
        if record is not None:
            state.store.archive(object_type, record.id, state.api_writer)
    return web.Response(status=204)


def register_batch_routes(app: web.Application) -> None:
    app.router.add_post(f"{_PREFIX}/read", batch_read)
    app.router.add_post(f"{_PREFIX}/create", batch_create)
    app.router.add_post(f"{_PREFIX}/update", batch_update)
    app.router.add_post(f"{_PREFIX}/upsert", batch_upsert)
    app.router.add_post(f"{_PREFIX}/archive", batch_archive)
