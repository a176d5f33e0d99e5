"""``hubsync run``: every component in one process, on one event loop.

The Faust worker app (:func:`~hubsync.worker.build_app`: the ingest agents, and the push
agents when ``HUBSPOT_ACCESS_TOKEN`` is set) owns the event loop, the signals and the exit code,
exactly as in ``hubsync worker``. The other components run as tasks of one
:class:`ComponentSupervisor`, a :mod:`mode` service started with the app (``app.service``,
i.e. once the app is fully started) and stopped with it:

* **relay**: :class:`~hubsync.push.relay.OutboxRelay` (``run(stop)``), the outbox to
  ``platform.*.changes``;
* **webhook** (when ``HUBSPOT_WEBHOOK_SECRET`` is set): the aiohttp receiver of
  :func:`~hubsync.connectors.hubspot.webhooks.service.webhook_service`, on ``--webhook-host`` /
  ``--webhook-port``, path ``/webhooks/hubspot``;
* **poller** (when HubSpot access is configured): :meth:`IncrementalPoller.poll_once` for
  contacts and companies of every active portal every ``poll_interval_s``. It uses the push agents'
  HubSpot clients (:func:`~hubsync.push.agents.shared_push_processor`): one client per portal and
  process means one rate limiter per portal, one fair share of the process, and one
  :class:`~hubsync.metrics.HubSpotClientMetrics` in the registry.

**Stopping.** SIGTERM/SIGINT are Faust's: the worker stops the app, which stops its children in
reverse order, so the supervisor (added last) stops before the agents, the consumer and the
producer: it sets the components' stop event,
waits up to ``stop_timeout_s`` for them to finish (the relay finishes its round, the receiver
answers the requests in progress, the poller finishes its page), cancels what is left, and only
then do the agents stop and the shared resources close. The process exits 0.

**Failures: restart with backoff.** A component that raises (or returns while the process is not
stopping) is logged with its traceback, counted in ``hubsync_component_restarts_total{component}``
and started again after a delay doubling from ``restart_initial_s`` up to ``restart_max_s``
(reset once a run lasted ``healthy_after_s``). Crashing the whole process instead would take the
healthy components down with it (a HubSpot outage would stop ingestion from Kafka); the restarts
are visible in the log and the metric, and the components themselves already retry their
dependencies. A failure of the Faust app itself (an agent, the consumer) is handled by Faust, as
in ``hubsync worker``.

**Metrics.** One registry, served once by the command; every metric set is created once per
registry: the memoised ``ingest_metrics``/``relay_metrics``/``push_metrics``/``dlq_metrics``,
one :class:`~hubsync.metrics.ConnectorMetrics` shared by the webhook receiver and the poller,
the push processor's :class:`~hubsync.metrics.HubSpotClientMetrics` (the poller reuses its
client, see above; ``hubspot_client_metrics`` memoises them per registry, so a push processor
reopened after HubSpot was unreachable at start registers nothing twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mode import Service
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from hubsync.avro.codec import AvroCodec
from hubsync.backoff import Backoff, BackoffSchedule
from hubsync.connectors.hubspot.sources.portal_polling import portal_poller
from hubsync.connectors.hubspot.webhooks import DEFAULT_PATH
from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
from hubsync.connectors.hubspot.webhooks.service import webhook_service
from hubsync.health import HealthChecks
from hubsync.metrics import ConnectorMetrics, PerRegistry
from hubsync.push.agents import shared_push_processor
from hubsync.push.relay import relay_from_settings
from hubsync.settings import Settings, hubspot_access_configured
from hubsync.streams.faust_app import AgentApp, assignment_check, consumer_not_started, run_app
from hubsync.worker import build_app

log = logging.getLogger(__name__)

#: a component: runs until the event is set, then returns (raising means it failed)
ComponentFn = Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``hubsync run`` starts besides the Faust agents, and how it supervises it."""

    webhook: bool = True
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8081
    webhook_path: str = DEFAULT_PATH
    poller: bool = True
    poll_interval_s: float = 30.0
    restart_initial_s: float = 1.0
    restart_max_s: float = 60.0
    #: a run that lasted this long resets the restart backoff
    healthy_after_s: float = 60.0
    #: how long the components get to finish once stopping, before they are cancelled
    stop_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if self.poll_interval_s <= 0:
            raise ValueError("the poll interval must be positive")
        if not 0 <= self.webhook_port <= 65535:
            raise ValueError("the webhook port must be between 0 and 65535")
        if not self.webhook_path.startswith("/"):
            raise ValueError("the webhook path must start with /")


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    run: ComponentFn


# ---- metrics -------------------------------------------------------------------------------------


def _restart_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "hubsync_component_restarts",
        "Components of `hubsync run` (relay, webhook, poller) that failed and were restarted",
        ["component"],
        registry=registry,
    )


#: ``hubsync_component_restarts_total{component}`` of a registry, created once
restart_counter = PerRegistry(_restart_counter)


#: the :class:`ConnectorMetrics` of a registry, created once (webhook and poller share it)
connector_metrics = PerRegistry(ConnectorMetrics.create)


# ---- supervision ---------------------------------------------------------------------------------


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def supervise(
    component: Component,
    stop: asyncio.Event,
    options: RunOptions,
    restarts: Counter | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``component`` until ``stop`` is set, restarting it with backoff whenever it fails."""
    backoff = BackoffSchedule(Backoff(options.restart_initial_s, options.restart_max_s))
    while not stop.is_set():
        started = clock()
        try:
            await component.run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", component.name)
        else:
            if stop.is_set():
                return
            log.error("%s returned while the process is running", component.name)
        if clock() - started >= options.healthy_after_s:
            backoff.reset()
        delay = backoff.next()
        if restarts is not None:
            restarts.labels(component=component.name).inc()
        log.warning("restarting %s in %.1f s", component.name, delay)
        if await _sleep(stop, delay):
            return


class ComponentSupervisor(Service):
    """Runs each component as a supervised task; on stop, signals them and waits for them."""

    def __init__(
        self,
        components: Sequence[Component],
        options: RunOptions,
        restarts: Counter | None = None,
        **kwargs: Any,
    ) -> None:
        self.components = tuple(components)
        self.options = options
        self.restarts = restarts
        self.stop_event: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[None]] = []
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.stop_event = asyncio.Event()
        for component in self.components:
            log.info("starting %s", component.name)
            self.tasks.append(
                asyncio.create_task(
                    supervise(component, self.stop_event, self.options, self.restarts),
                    name=f"hubsync-{component.name}",
                )
            )

    async def on_stop(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(self.tasks, timeout=self.options.stop_timeout_s)
        for task in pending:
            log.warning(
                "%s did not stop within %.0f s; cancelling it", task.get_name(), self.options.stop_timeout_s
            )
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


# ---- the components ------------------------------------------------------------------------------


def relay_component(settings: Settings, codec: AvroCodec, registry: CollectorRegistry) -> Component:
    async def run(stop: asyncio.Event) -> None:
        async with relay_from_settings(settings, codec, registry=registry) as relay:
            await relay.run(stop)

    return Component("relay", run)


def webhook_component(
    settings: Settings,
    options: RunOptions,
    metrics: ConnectorMetrics,
    announce: Callable[[str], None],
) -> Component:
    config = WebhookReceiverConfig.from_settings(settings, path=options.webhook_path)

    async def run(stop: asyncio.Event) -> None:
        async with webhook_service(
            settings,
            config,
            metrics,
            host=options.webhook_host,
            port=options.webhook_port,
            create_topics=False,
        ) as running:
            announce(f"webhook receiver on {running.url}")
            await stop.wait()

    return Component("webhook", run)


def poller_component(
    app: AgentApp, settings: Settings, options: RunOptions, metrics: ConnectorMetrics
) -> Component:
    """The incremental poller of every portal, on the push agents' HubSpot clients (see the module
    docstring): each round polls the active portals
    (:class:`~hubsync.connectors.hubspot.sources.portal_polling.PortalPoller`). A portal that fails
    (revoked while polled, HubSpot down for it) is logged and polled again next round; the others
    go on."""

    async def run(stop: asyncio.Event) -> None:
        clients = (await shared_push_processor(app)).clients
        async with portal_poller(settings, clients, metrics=metrics) as poller:
            while not stop.is_set():
                outcomes = await poller.round()
                for outcome in outcomes:
                    for object_type, published in outcome.published.items():
                        if published:
                            log.info(
                                "poller: portal %s: %s: %d events published",
                                outcome.portal,
                                object_type,
                                published,
                            )
                failed = [o for o in outcomes if o.error is not None]
                for outcome in failed:
                    log.warning("poller: portal %s not polled this round: %s", outcome.portal, outcome.error)
                if failed and len(failed) == len(outcomes) and not clients.many:
                    assert failed[0].error is not None
                    raise failed[0].error  # the one portal failed: the supervisor restarts with backoff
                if await _sleep(stop, options.poll_interval_s):
                    return

    return Component("poller", run)


def components(
    app: AgentApp,
    settings: Settings,
    codec: AvroCodec,
    options: RunOptions,
    *,
    registry: CollectorRegistry = REGISTRY,
    announce: Callable[[str], None] = print,
) -> list[Component]:
    """The components ``options`` and ``settings`` ask for; says on ``announce`` what is left out."""
    metrics = connector_metrics(registry)
    found = [relay_component(settings, codec, registry)]
    secret = settings.hubspot_webhook_secret
    if not options.webhook:
        announce("webhook receiver: off (--no-webhook)")
    elif secret is None or not secret.get_secret_value():
        announce("webhook receiver: off (HUBSPOT_WEBHOOK_SECRET is not set)")
    else:
        found.append(webhook_component(settings, options, metrics, announce))
    if not options.poller:
        announce("poller: off (--no-poller)")
    elif not hubspot_access_configured(settings):
        announce("poller and push agents: off (HUBSPOT_ACCESS_TOKEN is not set)")
    else:
        found.append(poller_component(app, settings, options, metrics))
    return found


def build_run_app(
    settings: Settings,
    codec: AvroCodec,
    options: RunOptions,
    *,
    registry: CollectorRegistry = REGISTRY,
    announce: Callable[[str], None] = print,
) -> AgentApp:
    """The worker app with the supervisor of the other components registered as an app service."""
    app = build_app(settings, codec, registry=registry)
    parts = components(app, settings, codec, options, registry=registry, announce=announce)
    restarts = restart_counter(registry)
    for part in parts:  # a series per component from the start: increase() then sees the first restart
        restarts.labels(component=part.name)

    class Components(ComponentSupervisor):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(parts, options, restarts, **kwargs)

    app.service(Components)
    return app


def run_all(
    settings: Settings,
    codec: AvroCodec,
    options: RunOptions,
    *,
    announce: Callable[[str], None] = print,
    checks: HealthChecks | None = None,
) -> None:
    """Run everything until SIGINT/SIGTERM (Faust's worker handles the signals and the exit code);
    ``checks`` (its ``/readyz``) gain the consumer's assignment."""

    if checks is not None:
        checks.add("consumer", consumer_not_started)

    def build() -> AgentApp:
        app = build_run_app(settings, codec, options, announce=announce)
        if checks is not None:
            checks.add("consumer", assignment_check(app))
        return app

    run_app(build)
