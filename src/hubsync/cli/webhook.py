"""``hubsync webhook``: the HubSpot webhook receiver as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import psycopg
import typer
from psycopg_pool import PoolTimeout

from hubsync.cli._common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_USAGE,
    configure_logging,
    console_err,
    kafka_ready,
    readiness,
    shutdown_handler,
)
from hubsync.connectors.hubspot.webhooks import DEFAULT_PATH
from hubsync.errors import ConfigurationError, HubsyncError
from hubsync.metrics import ConnectorMetrics, serve_metrics
from hubsync.settings import load_settings, redact_url, require_database_url


def webhook_command(
    port: int = typer.Option(8080, "--port", "-p", help="TCP port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you mean it."),
    path: str = typer.Option(DEFAULT_PATH, "--path", help="Path HubSpot POSTs to."),
    public_base_url: str | None = typer.Option(
        None,
        "--public-base-url",
        help="Base URL HubSpot calls when behind a proxy (e.g. https://hooks.example.com, with any "
        "prefix the proxy strips); signatures are checked against it + the request's path and query "
        "instead of the request's own URL.",
    ),
    max_body_bytes: int = typer.Option(1024 * 1024, "--max-body-bytes", help="Larger bodies get a 413."),
) -> None:
    """Receive HubSpot webhooks (v3 signatures, secret from HUBSPOT_WEBHOOK_SECRET) and publish them
    to the hubspot.*.changes topics, answering 2xx once Kafka acknowledged. Runs until interrupted."""
    # imported here: aiohttp loads only for the command that serves
    from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
    from hubsync.connectors.hubspot.webhooks.service import webhook_service

    settings = load_settings()
    if settings.hubspot_webhook_secret is None or not settings.hubspot_webhook_secret.get_secret_value():
        console_err.print("[red]error:[/red] HUBSPOT_WEBHOOK_SECRET is not set (the HubSpot app's secret)")
        raise typer.Exit(EXIT_CONFIG)
    if not path.startswith("/"):
        console_err.print("[red]error:[/red] --path must start with /")
        raise typer.Exit(EXIT_USAGE)
    if public_base_url and not public_base_url.startswith(("http://", "https://")):
        console_err.print("[red]error:[/red] --public-base-url must be an http(s) URL")
        raise typer.Exit(EXIT_USAGE)
    database_url = require_database_url(settings)
    bootstrap = kafka_ready(settings, "webhook")
    configure_logging(settings)
    config = WebhookReceiverConfig.from_settings(
        settings, path=path, public_base_url=public_base_url, max_body_bytes=max_body_bytes
    )
    metrics = ConnectorMetrics.create()
    checks = readiness(settings)
    metrics_port = serve_metrics(settings, checks=checks)

    stopping = shutdown_handler(settings, "the webhook receiver")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping, stop)
        # kafka_ready made sure of the topics
        async with webhook_service(
            settings, config, metrics, host=host, port=port, create_topics=False
        ) as running:
            console_err.print(
                f"webhook receiver on {running.url} -> Kafka {bootstrap}, PostgreSQL "
                f"{redact_url(database_url)}; metrics on {settings.metrics_host}:{metrics_port}"
            )
            await stop.wait()
            # SIGTERM/SIGINT: unready at once (a load balancer stops sending), then the service closes:
            # new connections are refused, requests in flight are answered, the producer flushes
            checks.stopping = True
            console_err.print("webhook receiver stopping: answering the requests in flight")
        console_err.print("webhook receiver stopped")

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except ConfigurationError:
        raise  # the entry point's exit code 3
    except (HubsyncError, OSError, psycopg.Error, PoolTimeout) as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
