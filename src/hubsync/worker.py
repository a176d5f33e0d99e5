"""``hubsync worker``: the Faust app with the ingest agents and, when HubSpot access is
configured, the push agents."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.health import HealthChecks
from hubsync.ingest.agents import add_ingest_lanes, shared_ingest_processor
from hubsync.mapping.definitions import refresh_portal_definitions
from hubsync.push.agents import add_push_agents, shared_push_processor
from hubsync.settings import Settings, hubspot_access_configured
from hubsync.streams.faust_app import AgentApp, assignment_check, consumer_not_started, create_app, run_app

log = logging.getLogger(__name__)


def build_app(settings: Settings, codec: AvroCodec, *, registry: CollectorRegistry = REGISTRY) -> AgentApp:
    """The worker app: ingest's two lanes (``hubspot.*.changes``, ``hubspot.*.backfill``) and, when
    ``HUBSPOT_ACCESS_TOKEN`` is set, one push agent per ``platform.*.changes`` topic and the
    periodic refresh of the property definitions."""
    app = create_app(settings, codec, registry)
    add_ingest_lanes(app)
    if hubspot_access_configured(settings):
        add_push_agents(app)
        if settings.definitions_refresh_s > 0:
            add_definitions_refresh(app, settings.definitions_refresh_s)
    return app


def add_definitions_refresh(app: AgentApp, interval_s: float) -> None:
    """Every ``interval_s``, read every portal's property definitions again through the push
    agents' clients (each portal's own token and rate limit), into the cache through the ingest
    processor's pool: a custom property made in HubSpot, or a portal installed since the worker
    started, converts without a restart. The ingest lanes reload the cache within seconds (their
    context cache). A portal that fails is a warning."""

    async def refresh() -> None:
        try:
            clients = (await shared_push_processor(app)).clients
            pool = (await shared_ingest_processor(app)).pool
            results = await refresh_portal_definitions(pool, clients)
        except Exception as exc:  # PostgreSQL down, say: the cached definitions stand, next time again
            log.warning("property definitions not refreshed: %s", exc)
            return
        for failed in (r for r in results if r.error is not None):
            log.warning("property definitions of portal %s not refreshed: %s", failed.portal, failed.error)
        log.info(
            "property definitions refreshed: %d of %d portals",
            sum(r.error is None for r in results),
            len(results),
        )

    app.timer(interval=interval_s)(refresh)


def run_worker(settings: Settings, codec: AvroCodec, *, checks: HealthChecks | None = None) -> None:
    """Run the worker until SIGINT/SIGTERM; ``checks`` (its ``/readyz``) gain the consumer's assignment."""

    if checks is not None:
        checks.add("consumer", consumer_not_started)

    def build() -> AgentApp:
        app = build_app(settings, codec)
        if checks is not None:
            checks.add("consumer", assignment_check(app))
        return app

    run_app(build)
