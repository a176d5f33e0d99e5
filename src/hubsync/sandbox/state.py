"""The sandbox's shared state, reachable from every handler as ``request.app[SANDBOX_STATE]``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .config import SandboxConfig
from .events import EventSink, Writer
from .properties import PropertyRegistry
from .store import CrmStore


@dataclass
class SandboxState:
    """Everything a handler needs; other components add their fields (limiter, faults, request log)."""

    config: SandboxConfig
    registry: PropertyRegistry
    store: CrmStore
    sink: EventSink

    @property
    def api_writer(self) -> Writer:
        """How API writes are reported: changeSource INTEGRATION, sourceId the sandbox's app id."""
        return Writer("INTEGRATION", str(self.config.app_id))


SANDBOX_STATE = web.AppKey("hubsync.sandbox.state", SandboxState)


def state_of(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_STATE]
