"""The sandbox's shared state, reachable from every handler as ``request.app[SANDBOX_STATE]``."""

from __future__ import annotations

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


def state_of(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_STATE]
