"""The sandbox's shared state, reachable from every handler as ``request.app[SANDBOX_STATE]``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from aiohttp import web

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import EventSink, Writer
from hubsync.sandbox.faults import FaultSettings
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.ratelimit import RateLimiter
from hubsync.sandbox.requestlog import RequestLog
from hubsync.sandbox.store import CrmStore
from hubsync.sandbox.webhooks import WebhookDispatcher


@dataclass
class SandboxState:
    """Everything a handler needs. ``limiter``, ``faults`` and ``request_log`` take effect when
    the edge middlewares are installed (:func:`hubsync.sandbox.server.build_sandbox` does);
    ``webhooks`` is set when a webhook URL is configured."""

    config: SandboxConfig
    registry: PropertyRegistry
    store: CrmStore
    sink: EventSink
    limiter: RateLimiter = field(init=False)
    faults: FaultSettings = field(default_factory=FaultSettings)
    request_log: RequestLog = field(default_factory=RequestLog)
    webhooks: WebhookDispatcher | None = None

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.config)

    @cached_property
    def api_writer(self) -> Writer:
        """How API writes are reported: changeSource INTEGRATION, sourceId the sandbox's app id
        (made once: the config is frozen)."""
        return Writer("INTEGRATION", str(self.config.app_id))


SANDBOX_STATE = web.AppKey("hubsync.sandbox.state", SandboxState)
#: the portal a request acts in, set by the auth middleware from an OAuth token
REQUEST_PORTAL = web.RequestKey("hubsync_sandbox_portal", int)


class PortalStates:
    """Several portals in one sandbox, as a public app sees them: each with its own records,
    property definitions and rate limits; faults and the request log are the sandbox's. Portals
    other than the sandbox's own come into being when an OAuth install names them."""

    def __init__(self, default: SandboxState, make: Callable[[int], SandboxState]) -> None:
        self.default = default
        self._make = make
        self._states = {default.config.portal_id: default}
        self._lock = threading.Lock()  # tests ask from their own thread while the loop serves

    def state(self, portal_id: int | None = None, *, create: bool = True) -> SandboxState:
        """The portal's state, made on first use when ``create`` (an install); else KeyError."""
        if portal_id is None:
            return self.default
        with self._lock:
            if portal_id not in self._states:
                if not create:
                    raise KeyError(portal_id)
                self._states[portal_id] = self._make(portal_id)
            return self._states[portal_id]

    def __iter__(self) -> Iterator[SandboxState]:
        return iter(list(self._states.values()))


SANDBOX_PORTALS = web.AppKey("hubsync.sandbox.portals", PortalStates)


def state_of(request: web.Request) -> SandboxState:
    """The state of the request's portal: its OAuth token's, ``?portal=N`` on the control API, or
    the sandbox's own."""
    portals = request.app.get(SANDBOX_PORTALS)
    if portals is None:
        return request.app[SANDBOX_STATE]
    portal = request.get(REQUEST_PORTAL)
    if portal is None and "portal" in request.query and request.path.startswith("/_sandbox/"):
        try:
            return portals.state(int(request.query["portal"]), create=False)
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(text=f"no portal {request.query['portal']!r} in this sandbox") from None
    return portals.state(portal)
