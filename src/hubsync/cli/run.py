"""``hubsync run``: the whole pipeline in one process (see :mod:`hubsync.runner`)."""

from __future__ import annotations

import typer

from hubsync.cli._common import EXIT_USAGE, configure_logging, console_err, kafka_ready, readiness
from hubsync.metrics import serve_metrics
from hubsync.settings import load_settings, redact_url, require_database_url


def _announce(message: str) -> None:
    console_err.print(message, markup=False, highlight=False, soft_wrap=True)


def run_command(
    no_webhook: bool = typer.Option(False, "--no-webhook", help="Do not start the webhook receiver."),
    no_poller: bool = typer.Option(False, "--no-poller", help="Do not poll HubSpot's search API."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", help="Seconds between polls."),
    webhook_port: int = typer.Option(
        8081, "--webhook-port", help="Webhook receiver TCP port (0: a free one)."
    ),
    webhook_host: str = typer.Option(
        "127.0.0.1", "--webhook-host", help="Address the webhook receiver binds; loopback unless you mean it."
    ),
    no_refresh: bool = typer.Option(
        False, "--no-refresh", help="Do not read HubSpot's property definitions at start (use the cache)."
    ),
) -> None:
    """Run every component in one process: the ingest agents, the push agents and the incremental
    poller (with HUBSPOT_ACCESS_TOKEN), the webhook receiver at /webhooks/hubspot (with
    HUBSPOT_WEBHOOK_SECRET) and the outbox relay. A component that fails is logged and restarted
    with backoff; SIGTERM stops everything and exits 0. Serves /metrics."""
    # imported here: the pipeline (Faust, aiohttp) loads only for the command that runs it
    from hubsync.avro.codec import codec_from_settings
    from hubsync.cli.worker import refresh_property_definitions
    from hubsync.connectors.hubspot.webhooks import DEFAULT_PATH
    from hubsync.runner import RunOptions, run_all

    settings = load_settings()
    database_url = require_database_url(settings)
    try:
        options = RunOptions(
            webhook=not no_webhook,
            webhook_host=webhook_host,
            webhook_port=webhook_port,
            webhook_path=DEFAULT_PATH,
            poller=not no_poller,
            poll_interval_s=poll_interval,
            # the rest of the grace period is the agents' (their batch, the offset commit)
            stop_timeout_s=settings.shutdown_grace_s / 2,
        )
    except ValueError as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    configure_logging(settings)
    producers = [name for name, on in (("poller", options.poller), ("webhook", options.webhook)) if on]
    bootstrap = kafka_ready(settings, "worker", "relay", *producers)
    if not no_refresh:
        refresh_property_definitions(settings)
    checks = readiness(settings)
    port = serve_metrics(settings, checks=checks)
    console_err.print(f"metrics on http://{settings.metrics_host}:{port}/metrics (/healthz, /readyz)")
    console_err.print(f"hubsync run: Kafka {bootstrap}, PostgreSQL {redact_url(database_url)}")
    run_all(settings, codec_from_settings(settings), options, announce=_announce, checks=checks)
