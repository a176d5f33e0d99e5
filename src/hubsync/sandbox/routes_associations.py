"""Associations v4 between contacts and companies (HubSpot-defined types 279/280 and primary 1/2), and
between two contacts (449) or two companies (450), unlabeled."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from hubsync.hubspot_model.limits import ASSOCIATIONS_READ_BATCH_LIMIT
from hubsync.hubspot_model.objects import OBJECT_TYPE_IDS, HubSpotObjectName
from hubsync.sandbox.associations import SAME_TYPE_IDS, TYPE_LABELS, UNLABELED, flags_for, type_ids
from hubsync.sandbox.errors import HubSpotApiError, not_found, validation_error
from hubsync.sandbox.httpio import inputs_of, json_body, json_object, object_type_of, query_int
from hubsync.sandbox.routes_crm import json_response
from hubsync.sandbox.state import SandboxState, state_of
from hubsync.sandbox.tables import is_object_id
from hubsync.sandbox.views import batch_json

_CATEGORY = "HUBSPOT_DEFINED"
PAGE_LIMIT = 500


def _pair(from_name: str, to_name: str) -> tuple[HubSpotObjectName, HubSpotObjectName]:
    return object_type_of(from_name), object_type_of(to_name)


def _ids(from_type: HubSpotObjectName, from_id: int, to_id: int) -> tuple[int, int]:
    """(contact id, company id) of a pair given from ``from_type``'s side."""
    return (from_id, to_id) if from_type == "contact" else (to_id, from_id)


def _object_id(raw: object) -> int:
    text = str(raw.get("id", "") if isinstance(raw, Mapping) else raw).strip()
    if not is_object_id(text):
        raise validation_error(f"{text!r} is not a valid object id")
    return int(text)


def _flags(from_type: HubSpotObjectName, specs: object, to_type: HubSpotObjectName | None = None) -> int:
    if not isinstance(specs, list) or not specs:
        raise validation_error("types must be a non-empty array of association specs")
    flags = 0
    for spec in specs:
        type_id = spec.get("associationTypeId") if isinstance(spec, Mapping) else None
        same = to_type == from_type and type_id == SAME_TYPE_IDS[from_type] and not isinstance(type_id, bool)
        flag = UNLABELED if same else None if to_type == from_type else flags_for(from_type, type_id)
        if flag is None:
            raise validation_error(f"associationTypeId {type_id} is not a valid type from {from_type}")
        flags |= flag
    return flags


def _labels_json(
    state: SandboxState, from_type: HubSpotObjectName, to_type: HubSpotObjectName, from_id: int, to_id: int
) -> dict[str, Any]:
    if from_type == to_type:  # unlabeled: no label
        return {
            "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
            "fromObjectId": str(from_id),
            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
            "toObjectId": str(to_id),
            "labels": [],
        }
    flags = state.store.association_flags(*_ids(from_type, from_id, to_id))
    return {
        "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
        "fromObjectId": str(from_id),
        "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
        "toObjectId": str(to_id),
        "labels": [label for t in type_ids(from_type, flags) if (label := TYPE_LABELS[t])],
    }


def _types_json(from_type: HubSpotObjectName, to_type: HubSpotObjectName, flags: int) -> list[dict[str, Any]]:
    if from_type == to_type:
        return [{"category": _CATEGORY, "typeId": SAME_TYPE_IDS[from_type]}]
    specs = []
    for type_id in type_ids(from_type, flags):
        spec: dict[str, Any] = {"category": _CATEGORY, "typeId": type_id}
        if TYPE_LABELS[type_id]:
            spec["label"] = TYPE_LABELS[type_id]
        specs.append(spec)
    del to_type
    return specs


def _default_json(
    from_type: HubSpotObjectName, from_id: int, to_id: int, *, same: bool = False
) -> dict[str, Any]:
    type_id = SAME_TYPE_IDS[from_type] if same else type_ids(from_type, UNLABELED)[0]
    return {
        "from": {"id": str(from_id)},
        "to": {"id": str(to_id)},
        "associationSpec": {"associationCategory": _CATEGORY, "associationTypeId": type_id},
    }


def _associate(
    state: SandboxState,
    from_type: HubSpotObjectName,
    from_id: int,
    to_id: int,
    flags: int,
    *,
    same: bool = False,
) -> tuple[int, int]:
    """Create the association; returns the canonical (from id, to id) after merged-id resolution."""
    if same:
        return state.store.associate_peers(from_type, from_id, to_id)
    to_type: HubSpotObjectName = "company" if from_type == "contact" else "contact"
    from_record = state.store.get(from_type, from_id)
    to_record = state.store.get(to_type, to_id)
    state.store.associate_flags(*_ids(from_type, from_record.id, to_record.id), flags, state.api_writer)
    return from_record.id, to_record.id


async def create_default(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    same = from_type == to_type
    from_id, to_id = _associate(
        state, from_type, _object_id(m["from_id"]), _object_id(m["to_id"]), UNLABELED, same=same
    )
    started = state.store.clock()
    return json_response(
        batch_json([_default_json(from_type, from_id, to_id, same=same)], [], started, state.store.clock())
    )


async def create_labeled(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    flags = _flags(from_type, await json_body(request), to_type)
    from_id, to_id = _associate(
        state, from_type, _object_id(m["from_id"]), _object_id(m["to_id"]), flags, same=from_type == to_type
    )
    return json_response(_labels_json(state, from_type, to_type, from_id, to_id), status=201)


async def get_page(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    record = state.store.get(from_type, _object_id(m["from_id"]))
    limit = query_int(request, "limit", PAGE_LIMIT, minimum=1, maximum=PAGE_LIMIT)
    after = query_int(request, "after", 0)
    body = _associations_page(state, from_type, to_type, record.id, after, limit)
    return json_response(body)


def _associations_page(
    state: SandboxState,
    from_type: HubSpotObjectName,
    to_type: HubSpotObjectName,
    object_id: int,
    after: int,
    limit: int,
) -> dict[str, Any]:
    same = from_type == to_type
    linked = (
        state.store.peer_associations(from_type, object_id)
        if same
        else state.store.associations(from_type, object_id)
    )
    peers = [p for p in linked if p >= after]
    results = [
        {
            "toObjectId": str(p),
            "associationTypes": _types_json(
                from_type,
                to_type,
                0 if same else state.store.association_flags(*_ids(from_type, object_id, p)),
            ),
        }
        for p in peers[:limit]
    ]
    body: dict[str, Any] = {"results": results}
    if len(peers) > limit:
        body["paging"] = {"next": {"after": str(peers[limit]), "link": f"?after={peers[limit]}"}}
    return body


async def archive(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    _dissociate(state, from_type, to_type, _object_id(m["from_id"]), _object_id(m["to_id"]))
    return web.Response(status=204)


def _dissociate(
    state: SandboxState,
    from_type: HubSpotObjectName,
    to_type: HubSpotObjectName,
    from_id: int,
    to_id: int,
    flags: int | None = None,
) -> None:
    if from_type == to_type:  # unlabeled only: removing any of its types removes it
        state.store.dissociate_peers(from_type, from_id, to_id)
    else:
        state.store.dissociate(*_ids(from_type, from_id, to_id), state.api_writer, flags=flags)


def _each_input(
    state: SandboxState,
    body: Mapping[str, Any],
    handle: Callable[[Any], dict[str, Any]],
    *,
    limit: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``handle`` on every input; a failing input becomes an entry of ``errors`` (207)."""
    started = state.store.clock()
    results: list[dict[str, Any]] = []
    errors: list[HubSpotApiError] = []
    for item in inputs_of(body, state.config.batch_limit if limit is None else limit):
        try:
            results.append(handle(item))
        except HubSpotApiError as error:
            errors.append(error)
    return batch_json(results, errors, started, state.store.clock()), bool(errors)


def _mapping(item: Any) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise validation_error("Each input must be an object")
    return item


async def batch_create(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])

    def create(item: Any) -> dict[str, Any]:
        flags = _flags(from_type, _mapping(item).get("types"), to_type)
        ids = _associate(
            state,
            from_type,
            _object_id(item.get("from")),
            _object_id(item.get("to")),
            flags,
            same=from_type == to_type,
        )
        return _labels_json(state, from_type, to_type, *ids)

    body, failed = _each_input(state, await json_object(request), create)
    return json_response(body, status=207 if failed else 201)


async def batch_associate_default(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    same = from_type == to_type

    def associate(item: Any) -> dict[str, Any]:
        item = _mapping(item)
        ids = _associate(
            state, from_type, _object_id(item.get("from")), _object_id(item.get("to")), UNLABELED, same=same
        )
        return _default_json(from_type, *ids, same=same)

    body, _failed = _each_input(state, await json_object(request), associate)
    return json_response(body)


async def batch_read(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])

    def read(item: Any) -> dict[str, Any]:
        record = state.store.get(from_type, _object_id(item))
        after = _object_id(item.get("after") or 0) if isinstance(item, Mapping) else 0
        page = _associations_page(state, from_type, to_type, record.id, after, PAGE_LIMIT)
        if not page["results"]:
            raise not_found(f"No {to_type} is associated with {from_type} {record.id}.")
        entry: dict[str, Any] = {"from": {"id": str(record.id)}, "to": page["results"]}
        if "paging" in page:
            entry["paging"] = page["paging"]
        return entry

    # HubSpot reads the associations of up to 1,000 records per request
    body, failed = _each_input(state, await json_object(request), read, limit=ASSOCIATIONS_READ_BATCH_LIMIT)
    return json_response(body, status=207 if failed else 200)


async def batch_archive(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    for item in inputs_of(await json_object(request), state.config.batch_limit):
        if not isinstance(item, Mapping) or not isinstance(item.get("to"), list):
            raise validation_error("Each input needs from.id and a to array")
        from_id = _object_id(item.get("from"))
        for to in item["to"]:
            _dissociate(state, from_type, to_type, from_id, _object_id(to))
    return web.Response(status=204)


async def batch_archive_labels(request: web.Request) -> web.Response:
    state, m = state_of(request), request.match_info
    from_type, to_type = _pair(m["from_type"], m["to_type"])
    for item in inputs_of(await json_object(request), state.config.batch_limit):
        flags = _flags(from_type, _mapping(item).get("types"), to_type)
        _dissociate(
            state, from_type, to_type, _object_id(item.get("from")), _object_id(item.get("to")), flags
        )
    return web.Response(status=204)


def register_association_routes(app: web.Application) -> None:
    r = app.router
    batch = "/crm/v4/associations/{from_type}/{to_type}/batch"
    r.add_post(f"{batch}/create", batch_create)
    r.add_post(f"{batch}/associate/default", batch_associate_default)
    r.add_post(f"{batch}/read", batch_read)
    r.add_post(f"{batch}/archive", batch_archive)
    r.add_post(f"{batch}/labels/archive", batch_archive_labels)
    obj = "/crm/v4/objects/{from_type}/{from_id}/associations"
    r.add_put(f"{obj}/default/{{to_type}}/{{to_id}}", create_default)
    r.add_get(f"{obj}/{{to_type}}", get_page)
    r.add_put(f"{obj}/{{to_type}}/{{to_id}}", create_labeled)
    r.add_delete(f"{obj}/{{to_type}}/{{to_id}}", archive)
