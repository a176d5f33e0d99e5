"""``hubsync relay``: the outbox relay as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

import psycopg
import typer

from hubsync.avro.codec import codec_from_settings
from hubsync.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    JsonOption,
    configure_logging,
    console_err,
    kafka_ready,
    print_json,
    readiness,
    shutdown_handler,
)
from hubsync.errors import ConfigurationError, HubsyncError
from hubsync.metrics import serve_metrics
from hubsync.push.relay import RelayConfig, relay_from_settings
from hubsync.settings import load_settings, redact_url, require_database_url


def _config(
    batch_size: int, poll_interval: float, standby_interval: float, retention_days: float
) -> RelayConfig:
    try:
        return RelayConfig(
            batch_size=batch_size,
            poll_interval_s=poll_interval,
            standby_interval_s=standby_interval,
            retention=timedelta(days=retention_days) if retention_days > 0 else None,
        )
    except ValueError as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def relay_command(
    batch_size: int = typer.Option(
        500, "--batch-size", envvar="HUBSYNC_RELAY_BATCH_SIZE", min=1, help="Outbox rows per Kafka round."
    ),
    poll_interval: float = typer.Option(
        5.0,
        "--poll-interval",
        envvar="HUBSYNC_RELAY_POLL_INTERVAL",
        help="Seconds between polls when no NOTIFY arrives (notifications are lost while disconnected).",
    ),
    standby_interval: float = typer.Option(
        2.0,
        "--standby-interval",
        envvar="HUBSYNC_RELAY_STANDBY_INTERVAL",
        help="Seconds between attempts to take over while another relay is active.",
    ),
    retention_days: float = typer.Option(
        7.0,
        "--retention-days",
        envvar="HUBSYNC_RELAY_RETENTION_DAYS",
        help="Delete published outbox rows older than this (0 keeps them).",
    ),
    once: bool = typer.Option(False, "--once", help="Publish what is unpublished now, then exit."),
    json_output: bool = JsonOption,
) -> None:
    """Publish the transactional outbox to platform.contacts.changes / platform.accounts.changes, in
    order, at least once (marked published after Kafka acknowledged). Wakes on NOTIFY hubsync_outbox,
    polls as a fallback; only one relay publishes at a time, others stand by. Serves /metrics."""
    settings = load_settings()
    database_url = require_database_url(settings)
    bootstrap = kafka_ready(settings, "relay")
    config = _config(batch_size, poll_interval, standby_interval, retention_days)
    configure_logging(settings)
    codec = codec_from_settings(settings)

    stopping = shutdown_handler(settings, "the relay")

    async def main() -> int | None:
        async with relay_from_settings(settings, codec, config=config) as relay:
            if once:
                return await relay.run_once()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping, stop)
            console_err.print(f"relay: PostgreSQL {redact_url(database_url)} -> Kafka {bootstrap}")
            await relay.run(stop)
            console_err.print(f"relay stopped; {relay.published} rows published")
            return relay.published

    if not once:
        port = serve_metrics(settings, checks=readiness(settings))
        console_err.print(f"metrics on http://{settings.metrics_host}:{port}/metrics (/healthz, /readyz)")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            published = asyncio.run(main())
    except ConfigurationError:
        raise  # the entry point's exit code 3
    except (HubsyncError, OSError, psycopg.Error) as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    if once:
        if published is None:
            console_err.print("[red]error:[/red] another relay holds the relay lock; nothing published")
            raise typer.Exit(EXIT_FAILURE)
        if json_output:
            print_json({"published": published})
        else:
            console_err.print(f"{published} outbox rows published")
