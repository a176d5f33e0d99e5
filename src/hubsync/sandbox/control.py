"""The sandbox's control API under ``/_sandbox``: test controls, not part of HubSpot's API.

- ``GET  /_sandbox/status``: record counts, rate-limit state, faults, webhook statistics
- ``POST /_sandbox/reset``: drop all records, custom validation rules, faults, the request log
  and the rate-limit windows (custom property definitions go too)
- ``POST /_sandbox/seed``: ``{"contacts": N, "companies": M, "seed": 42, "duplicate_share": 0.05}``
- ``GET/PUT /_sandbox/faults``, ``POST /_sandbox/faults/fail-next`` (``{"n": 3, "status": 503}``),
  ``POST /_sandbox/faults/drop-next`` (``{"n": 1}``: applied, then the connection dropped unanswered)
- ``GET/PUT /_sandbox/rate-limits`` (``burst_limit``, ``burst_window_s``, ``daily_limit``,
  ``search_per_second``, ``retry_after``: put ``Retry-After`` on 429s)
- ``PUT /_sandbox/requests`` (``{"bodies": true}``: the log keeps bodies and the record ids they name)
- ``GET/DELETE /_sandbox/requests`` (filters: ``path_prefix``, ``method``, ``status``, ``since``, ``limit``)
- ``GET/POST/DELETE /_sandbox/validation-rules``
- ``GET /_sandbox/webhooks``: dispatcher statistics and the recent deliveries
- Simulated edits by a person in HubSpot's UI (they fire webhooks with ``changeSource`` CRM_UI):
  ``POST /_sandbox/ui/{contacts|companies}`` (create), ``PATCH .../{id}`` (update),
  ``DELETE .../{id}`` (archive), ``POST .../{id}/restore``, ``POST .../merge``
  (``{"primaryObjectId", "objectIdToMerge"}``), ``POST /_sandbox/ui/contacts/{id}/gdpr-delete``,
  ``PUT/DELETE /_sandbox/ui/associations/{contactId}/{companyId}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from hubsync.hubspot_model.objects import SINGULAR, HubSpotObjectName
from hubsync.sandbox.errors import validation_error
from hubsync.sandbox.events import Writer
from hubsync.sandbox.properties import ValidationRule
from hubsync.sandbox.seed import generate_seed
from hubsync.sandbox.seeding import load_seed
from hubsync.sandbox.state import SandboxState, state_of
from hubsync.sandbox.views import record_json

CONTROL_PREFIX = "/_sandbox"


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise validation_error(f"Invalid JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise validation_error("The body must be a JSON object")
    return data


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _object_type(request: web.Request) -> HubSpotObjectName:
    name = request.match_info["object"]
    for plural, singular in SINGULAR.items():
        if name == plural:
            return singular
    raise web.HTTPNotFound()


def _ui_writer(body: dict[str, Any]) -> Writer:
    return Writer("CRM_UI", f"userId:{int(body.get('userId', 90001))}")


def _status(state: SandboxState) -> dict[str, Any]:
    return {
        "records": {"contacts": state.store.count("contact"), "companies": state.store.count("company")},
        "rate_limits": state.limiter.snapshot(),
        "faults": state.faults.to_json(),
        "requests_logged": len(state.request_log),
        "webhooks": asdict(state.webhooks.stats()) if state.webhooks else None,
    }


async def status(request: web.Request) -> web.Response:
    return _json(_status(state_of(request)))


async def reset(request: web.Request) -> web.Response:
    state = state_of(request)
    state.store.reset()
    state.registry.reset()
    state.faults.reset()
    state.request_log.clear()
    state.limiter.reset()
    return _json(_status(state))


async def seed(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        data = generate_seed(
            int(body.get("contacts", 100)),
            None if body.get("companies") is None else int(body["companies"]),
            seed=int(body.get("seed", 42)),
            duplicate_share=float(body.get("duplicate_share", 0.05)),
        )
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid seed request: {exc}") from exc
    report = load_seed(state_of(request).store, data)
    return _json({**asdict(report), "duplicates": [asdict(d) for d in data.duplicates]})


async def get_faults(request: web.Request) -> web.Response:
    return _json(state_of(request).faults.to_json())


async def put_faults(request: web.Request) -> web.Response:
    faults = state_of(request).faults
    body = await _body(request)
    try:
        if "seed" in body:
            faults.reseed(body.pop("seed"))
        if "error_statuses" in body:
            body["error_statuses"] = tuple(int(s) for s in body["error_statuses"])
        faults.update(**body)
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid fault settings: {exc}") from exc
    return _json(faults.to_json())


async def fail_next(request: web.Request) -> web.Response:
    faults = state_of(request).faults
    body = await _body(request)
    try:
        faults.fail_next(int(body.get("n", 1)), int(body.get("status", 500)))
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid fail-next request: {exc}") from exc
    return _json(faults.to_json())


async def drop_next(request: web.Request) -> web.Response:
    faults = state_of(request).faults
    body = await _body(request)
    try:
        faults.drop_next(int(body.get("n", 1)))
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid drop-next request: {exc}") from exc
    return _json(faults.to_json())


async def get_rate_limits(request: web.Request) -> web.Response:
    return _json(state_of(request).limiter.snapshot())


async def put_rate_limits(request: web.Request) -> web.Response:
    limiter = state_of(request).limiter
    body = await _body(request)
    allowed = {"burst_limit", "burst_window_s", "daily_limit", "search_per_second", "retry_after"}
    unknown = set(body) - allowed
    if unknown:
        raise validation_error(f"Unknown rate-limit settings: {sorted(unknown)}")
    try:
        limiter.configure(**body)
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid rate limits: {exc}") from exc
    return _json(limiter.snapshot())


async def get_requests(request: web.Request) -> web.Response:
    q = request.query
    entries = state_of(request).request_log.query(
        path_prefix=q.get("path_prefix"),
        method=q.get("method"),
        status=[int(s) for s in q.getall("status")] if "status" in q else None,
        since=float(q["since"]) if "since" in q else None,
        limit=int(q["limit"]) if "limit" in q else None,
    )
    return _json({"results": [e.to_json() for e in entries]})


async def put_requests(request: web.Request) -> web.Response:
    """``{"bodies": true}``: keep request and answer bodies and the record ids they name."""
    body = await _body(request)
    if set(body) - {"bodies"} or not isinstance(body.get("bodies"), bool):
        raise validation_error('Request log settings take one key: "bodies" (true or false)')
    log = state_of(request).request_log
    log.capture_bodies = body["bodies"]
    return _json({"bodies": log.capture_bodies, "size": log.maxlen})


async def clear_requests(request: web.Request) -> web.Response:
    state_of(request).request_log.clear()
    return web.Response(status=204)


def _rule_json(rule: ValidationRule) -> dict[str, Any]:
    return {
        "object_type": rule.object_type,
        "property": rule.property,
        "kind": rule.kind,
        "pattern": rule.pattern,
        "max_length": rule.max_length,
        "values": sorted(rule.values),
        "message": rule.message,
        "code": rule.code,
    }


async def get_rules(request: web.Request) -> web.Response:
    return _json({"results": [_rule_json(r) for r in state_of(request).registry.rules]})


async def add_rule(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        rule = ValidationRule(
            object_type=body["object_type"],
            property=body["property"],
            kind=body["kind"],
            pattern=body.get("pattern"),
            max_length=body.get("max_length"),
            values=frozenset(body.get("values", ())),
            message=body.get("message"),
            code=body.get("code"),
        )
        added = state_of(request).registry.add_rule(rule)
    except (KeyError, TypeError, ValueError) as exc:
        raise validation_error(f"Invalid validation rule: {exc!r}") from exc
    return _json(_rule_json(added), status=201)


async def clear_rules(request: web.Request) -> web.Response:
    state_of(request).registry.clear_rules()
    return web.Response(status=204)


async def webhooks(request: web.Request) -> web.Response:
    dispatcher = state_of(request).webhooks
    if dispatcher is None:
        return _json({"configured": False})
    return _json(
        {
            "configured": True,
            "stats": asdict(dispatcher.stats()),
            "deliveries": [asdict(d) for d in dispatcher.deliveries()],
        }
    )


# -- simulated UI edits ----------------------------------------------------------------------------


def _record_response(request: web.Request, object_type: HubSpotObjectName, object_id: int) -> web.Response:
    state = state_of(request)
    record = state.store.get(object_type, object_id, include_archived=True)
    return _json(record_json(state.store, object_type, record, all_properties=True))


async def ui_create(request: web.Request) -> web.Response:
    object_type = _object_type(request)
    body = await _body(request)
    record = state_of(request).store.create(
        object_type, body.get("properties", {}), _ui_writer(body), allow_read_only=True
    )
    return _record_response(request, object_type, record.id)


async def ui_update(request: web.Request) -> web.Response:
    object_type = _object_type(request)
    body = await _body(request)
    object_id = int(request.match_info["id"])
    # a person in HubSpot's UI edits what the API may not (secondary e-mails, ...); never a calculated value
    state_of(request).store.update(
        object_type, object_id, body.get("properties", {}), _ui_writer(body), allow_read_only=True
    )
    return _record_response(request, object_type, object_id)


async def ui_archive(request: web.Request) -> web.Response:
    object_type = _object_type(request)
    state_of(request).store.archive(object_type, int(request.match_info["id"]), _ui_writer({}))
    return web.Response(status=204)


async def ui_restore(request: web.Request) -> web.Response:
    object_type = _object_type(request)
    body = await _body(request)
    record = state_of(request).store.restore(object_type, int(request.match_info["id"]), _ui_writer(body))
    return _record_response(request, object_type, record.id)


async def ui_merge(request: web.Request) -> web.Response:
    object_type = _object_type(request)
    body = await _body(request)
    try:
        primary, merged = int(body["primaryObjectId"]), int(body["objectIdToMerge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise validation_error("primaryObjectId and objectIdToMerge are required") from exc
    record = state_of(request).store.merge(object_type, primary, merged, _ui_writer(body))
    return _record_response(request, object_type, record.id)


async def ui_gdpr_delete(request: web.Request) -> web.Response:
    state_of(request).store.gdpr_delete(int(request.match_info["id"]), _ui_writer({}))
    return web.Response(status=204)


async def ui_associate(request: web.Request) -> web.Response:
    body = await _body(request)
    contact, company = int(request.match_info["contact"]), int(request.match_info["company"])
    state_of(request).store.associate(contact, company, _ui_writer(body), primary=bool(body.get("primary")))
    return web.Response(status=204)


async def ui_dissociate(request: web.Request) -> web.Response:
    contact, company = int(request.match_info["contact"]), int(request.match_info["company"])
    state_of(request).store.dissociate(contact, company, _ui_writer({}))
    return web.Response(status=204)


def register_control_routes(app: web.Application) -> None:
    p = CONTROL_PREFIX
    app.router.add_get(f"{p}/status", status)
    app.router.add_post(f"{p}/reset", reset)
    app.router.add_post(f"{p}/seed", seed)
    app.router.add_get(f"{p}/faults", get_faults)
    app.router.add_put(f"{p}/faults", put_faults)
    app.router.add_post(f"{p}/faults/fail-next", fail_next)
    app.router.add_post(f"{p}/faults/drop-next", drop_next)
    app.router.add_get(f"{p}/rate-limits", get_rate_limits)
    app.router.add_put(f"{p}/rate-limits", put_rate_limits)
    app.router.add_get(f"{p}/requests", get_requests)
    app.router.add_put(f"{p}/requests", put_requests)
    app.router.add_delete(f"{p}/requests", clear_requests)
    app.router.add_get(f"{p}/validation-rules", get_rules)
    app.router.add_post(f"{p}/validation-rules", add_rule)
    app.router.add_delete(f"{p}/validation-rules", clear_rules)
    app.router.add_get(f"{p}/webhooks", webhooks)
    app.router.add_put(f"{p}/ui/associations/{{contact:\\d+}}/{{company:\\d+}}", ui_associate)
    app.router.add_delete(f"{p}/ui/associations/{{contact:\\d+}}/{{company:\\d+}}", ui_dissociate)
    app.router.add_post(f"{p}/ui/{{object}}/merge", ui_merge)
    app.router.add_post(f"{p}/ui/contacts/{{id:\\d+}}/gdpr-delete", ui_gdpr_delete)
    app.router.add_post(f"{p}/ui/{{object}}", ui_create)
    app.router.add_patch(f"{p}/ui/{{object}}/{{id:\\d+}}", ui_update)
    app.router.add_delete(f"{p}/ui/{{object}}/{{id:\\d+}}", ui_archive)
    app.router.add_post(f"{p}/ui/{{object}}/{{id:\\d+}}/restore", ui_restore)
