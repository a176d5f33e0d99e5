"""``hubsync worker``: the Faust ingest agents (HubSpot changes into PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import typer

from hubsync.cli._common import configure_logging, console_err, kafka_ready, readiness
from hubsync.metrics import serve_metrics
from hubsync.settings import Settings, hubspot_access_configured, load_settings, require_database_url

if TYPE_CHECKING:
    from hubsync.mapping.definitions import PortalRefresh

log = logging.getLogger(__name__)


async def _refresh(settings: Settings) -> list[PortalRefresh]:
    from hubsync.connectors.hubspot.oauth.clients import PortalClients
    from hubsync.mapping.definitions import refresh_portal_definitions
    from hubsync.storage.pool import open_pool

    clients = PortalClients(settings)
    try:
        with open_pool(require_database_url(settings), name="definitions") as pool:
            return await refresh_portal_definitions(pool, clients)
    finally:
        await clients.aclose()


def refresh_property_definitions(settings: Settings) -> None:
    """Cache HubSpot's property definitions of every portal when HubSpot is configured (with the
    public app, each active install's, through its own token). A failure is a warning, per portal:
    the worker then converts with the cached and built-in definitions."""
    if not hubspot_access_configured(settings):
        console_err.print("HUBSPOT_ACCESS_TOKEN not set: using cached and built-in property definitions")
        return
    try:
        results = asyncio.run(_refresh(settings))
    except Exception as exc:
        console_err.print(f"[yellow]could not refresh property definitions from HubSpot: {exc}[/yellow]")
        return
    for failed in (r for r in results if r.error is not None):
        console_err.print(
            f"[yellow]could not refresh the property definitions of portal {failed.portal}:"
            f" {failed.error}[/yellow]"
        )
    done = [r for r in results if r.error is None]
    if done:
        portals = f" of {len(done)} portals" if len(done) > 1 else ""
        console_err.print(f"cached {sum(r.stored for r in done)} HubSpot property definitions{portals}")


def ingest_locks_fit(settings: Settings) -> None:
    """Refuse ``HUBSYNC_INGEST_MAX_LOCKS`` when a worker's batches at once could fill over a third of the
    PostgreSQL server's lock table (:class:`~hubsync.storage.locks.LockBudgetError`, exit code 3). A server
    that does not answer yet is left to the worker's own retries: its ingest lanes check again once
    their pool is open."""
    import psycopg

    from hubsync.ingest.agents import check_ingest_lock_budget

    try:
        conn = psycopg.connect(require_database_url(settings), connect_timeout=10)
    except psycopg.OperationalError as exc:
        log.warning("PostgreSQL not reached at start (%s): the lock budget is checked later", exc)
        return
    with conn:
        check_ingest_lock_budget(conn, settings)


def worker_command(
    no_refresh: bool = typer.Option(
        False, "--no-refresh", help="Do not read HubSpot's property definitions at start (use the cache)."
    ),
) -> None:
    """Run the ingest agents: apply HubSpot change events to PostgreSQL (duplicates, prospects,
    field mappings, activity log), publish canonical records to crm.* and failures to the DLQ.
    Run several on one consumer group to scale out. Serves /metrics."""
    # imported here: Faust loads only for the command that runs it
    from hubsync.avro.codec import codec_from_settings
    from hubsync.worker import run_worker

    settings = load_settings()
    configure_logging(settings)
    require_database_url(settings)
    ingest_locks_fit(settings)
    kafka_ready(settings, "worker")
    if not no_refresh:
        refresh_property_definitions(settings)
    checks = readiness(settings)
    port = serve_metrics(settings, checks=checks)
    console_err.print(f"metrics on http://{settings.metrics_host}:{port}/metrics (/healthz, /readyz)")
    run_worker(settings, codec_from_settings(settings), checks=checks)
