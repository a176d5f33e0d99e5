"""The sandbox as an aiohttp application: state, HubSpot-shaped error handling, routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.events import EventSink, NullSink
from hubsync.sandbox.httpio import json_response
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.routes_associations import register_association_routes
from hubsync.sandbox.routes_batch import register_batch_routes
from hubsync.sandbox.routes_crm import register_crm_routes
from hubsync.sandbox.routes_properties import register_property_routes
from hubsync.sandbox.state import SANDBOX_STATE, SandboxState, state_of
from hubsync.sandbox.store import CrmStore

log = logging.getLogger(__name__)

__all__ = ["SANDBOX_STATE", "SandboxState", "create_app", "create_state", "state_of"]

#: largest request body accepted (a batch of 100 records with many properties fits easily)
MAX_BODY_BYTES = 16 * 1024 * 1024

_HTTP_CATEGORIES = {
    400: "VALIDATION_ERROR",
    404: "OBJECT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
}


def error_response(error: HubSpotApiError) -> web.Response:
    return json_response(error.to_json(), error.status, error.headers)


@web.middleware
async def hubspot_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """HubSpotApiError -> its JSON body; aiohttp's own 4xx (unknown route, wrong method, body too
    large) -> HubSpot-shaped JSON; anything unexpected -> a logged 500 with a correlationId."""
    try:
        return await handler(request)
    except HubSpotApiError as error:
        return error_response(error)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        category = _HTTP_CATEGORIES.get(http_error.status, "ERROR")
        message = (
            f"Unable to route {request.method} {request.path}"
            if http_error.status in (404, 405)
            else http_error.reason
        )
        routed = HubSpotApiError(http_error.status, category, message)
        if http_error.status == 405 and "Allow" in http_error.headers:
            routed.headers["Allow"] = http_error.headers["Allow"]
        return error_response(routed)
    except Exception:
        internal = HubSpotApiError(500, "INTERNAL_ERROR", "internal error")
        log.exception(
            "sandbox: unexpected error on %s %s (correlationId %s)",
            request.method,
            request.path,
            internal.correlation_id,
        )
        return error_response(internal)


def create_state(config: SandboxConfig, sink: EventSink | None = None) -> SandboxState:
    registry = PropertyRegistry()
    sink = sink or NullSink()
    return SandboxState(config=config, registry=registry, store=CrmStore(config, registry, sink), sink=sink)


def create_app(
    config: SandboxConfig,
    *,
    sink: EventSink | None = None,
    middlewares: Sequence[Middleware] = (),
    state: SandboxState | None = None,
) -> web.Application:
    """The HubSpot sandbox. ``middlewares`` run inside the error middleware, in the given order."""
    app = web.Application(middlewares=[hubspot_errors, *middlewares], client_max_size=MAX_BODY_BYTES)
    app[SANDBOX_STATE] = state or create_state(config, sink)
    # HubSpot CRM APIs (specific paths before the {objectId} ones: aiohttp matches in order)
    register_batch_routes(app)
    register_crm_routes(app)
    register_property_routes(app)
    register_association_routes(app)
    # Sandbox control routes (/_sandbox/*) are registered here by their module.
    return app
