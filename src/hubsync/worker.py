"""``hubsync worker``: the Faust app with the ingest agents and, when HubSpot access is
configured, the push agents."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.health import HealthChecks
from hubsync.ingest.agents import add_ingest_agents
from hubsync.push.agents import add_push_agents
from hubsync.settings import Settings, hubspot_access_configured
from hubsync.streams.faust_app import AgentApp, assignment_check, consumer_not_started, create_app, run_app


def build_app(settings: Settings, codec: AvroCodec, *, registry: CollectorRegistry = REGISTRY) -> AgentApp:
    """The worker app: one ingest agent per ``hubspot.*.changes`` topic and, when
    ``HUBSPOT_ACCESS_TOKEN`` is set, one push agent per ``platform.*.changes`` topic."""
    app = create_app(settings, codec, registry)
    add_ingest_agents(app)
    if hubspot_access_configured(settings):
        add_push_agents(app)
    return app


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
