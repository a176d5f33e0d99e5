"""Assemble and run a complete sandbox: CRM routes, edge middlewares (request log, auth, rate
limits, faults), the control API, webhook delivery and seed data."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from aiohttp import web

from hubsync._runtime.background import BackgroundService
from hubsync.sandbox.app import create_app, create_state
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.control import register_control_routes
from hubsync.sandbox.events import PortalSink
from hubsync.sandbox.middleware import edge_middlewares
from hubsync.sandbox.oauth import OAuthState, register_oauth_routes
from hubsync.sandbox.seed import generate_seed
from hubsync.sandbox.seeding import SeedReport, load_seed
from hubsync.sandbox.state import SANDBOX_PORTALS, SANDBOX_STATE, PortalStates, SandboxState
from hubsync.sandbox.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SeedSpec:
    contacts: int = 0
    companies: int | None = None
    seed: int = 42
    duplicate_share: float = 0.05


def build_sandbox(config: SandboxConfig, seed: SeedSpec | None = None) -> web.Application:
    """The full sandbox application. Webhooks are delivered while the app runs (started and
    stopped with it) when ``config.webhook_url`` is set."""
    dispatcher = WebhookDispatcher(config) if config.webhook_url else None
    state = create_state(config, dispatcher)
    state.webhooks = dispatcher
    state.request_log.capture_bodies = config.request_log_bodies

    def other_portal(portal_id: int) -> SandboxState:
        """Another portal installing the app: its own records and limits, the app's one webhook URL."""
        sink = None if dispatcher is None else PortalSink(dispatcher, portal_id)
        other = create_state(replace(config, portal_id=portal_id), sink)
        other.faults, other.request_log, other.webhooks = state.faults, state.request_log, dispatcher
        return other

    oauth = OAuthState(config)
    app = create_app(
        config,
        middlewares=edge_middlewares(
            config,
            state.limiter,
            state.faults,
            state.request_log,
            oauth_expiry=oauth.expiry,
            oauth_portal=oauth.portal,
        ),
        state=state,
    )
    app[SANDBOX_PORTALS] = PortalStates(state, other_portal)
    register_control_routes(app)
    if config.oauth_client_id is not None:
        register_oauth_routes(app, oauth)
    if seed is not None and seed.contacts:
        report = seed_state(state, seed)
        log.info(
            "sandbox: seeded %d contacts, %d companies in %.1fs",
            report.contacts,
            report.companies,
            report.seconds,
        )
    if dispatcher is not None:
        app.on_startup.append(_start_webhooks)
        app.on_cleanup.append(_stop_webhooks)
    return app


def seed_state(state: SandboxState, spec: SeedSpec) -> SeedReport:
    data = generate_seed(spec.contacts, spec.companies, seed=spec.seed, duplicate_share=spec.duplicate_share)
    return load_seed(state.store, data)


async def _start_webhooks(app: web.Application) -> None:
    dispatcher = app[SANDBOX_STATE].webhooks
    if dispatcher is not None:
        await dispatcher.start()


async def _stop_webhooks(app: web.Application) -> None:
    dispatcher = app[SANDBOX_STATE].webhooks
    if dispatcher is not None:
        await dispatcher.stop()


@dataclass
class RunningSandbox:
    """A sandbox served on a loopback port inside the current event loop."""

    app: web.Application
    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        return self.app[SANDBOX_STATE]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(
    config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0, seed: SeedSpec | None = None
) -> RunningSandbox:
    """Start serving; ``port=0`` picks a free port (see :attr:`RunningSandbox.port`)."""
    app = build_sandbox(config, seed)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = int(runner.addresses[0][1])
    return RunningSandbox(app, runner, host, bound)


async def serve_forever(running: RunningSandbox) -> None:
    """Serve until SIGTERM or SIGINT (or cancelled): the process is the sandbox's from now on.
    Everything made so far (modules, the application, seeded records) lives as long as it does, so
    it is moved out of the garbage collector's sight: full collections then walk only what requests
    create, instead of a million seeded records each time. The signal handlers are the loop's own,
    so the sandbox stops even where its parent left SIGINT ignored (a background job)."""
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await running.close()


@contextlib.asynccontextmanager
async def serving_sandbox(
    config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0, seed: SeedSpec | None = None
) -> AsyncIterator[RunningSandbox]:
    """A sandbox served for the duration of the block."""
    running = await start_sandbox(config, host=host, port=port, seed=seed)
    try:
        yield running
    finally:
        await running.close()


class ThreadedSandbox(BackgroundService[RunningSandbox]):
    """A complete sandbox served from a background thread with its own event loop, for
    synchronous callers: tests, benchmarks and the demo. Use as a context manager."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        seed: SeedSpec | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config or SandboxConfig()
        super().__init__(
            serving_sandbox(self.config, host=host, port=port, seed=seed), name="hubsync-sandbox"
        )

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def state(self) -> SandboxState:
        return self.running.state

    def portal_state(self, portal_id: int) -> SandboxState:
        """The state of one of the sandbox's portals (made when first asked for, as an install does)."""
        return self.running.app[SANDBOX_PORTALS].state(portal_id)
