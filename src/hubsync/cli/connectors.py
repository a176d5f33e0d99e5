"""``hubsync poller`` and ``hubsync pull``: HubSpot changes into Kafka by polling."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any

import typer
from rich.progress import (
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from hubsync.cli._common import (
    EXIT_FAILURE,
    configure_logging,
    console_err,
    kafka_ready,
    readiness,
    shutdown_handler,
)
from hubsync.connectors.hubspot.http.errors import BLOCKED_ERRORS
from hubsync.connectors.hubspot.oauth.clients import PortalClients
from hubsync.connectors.hubspot.sources.backfill import Backfill
from hubsync.connectors.hubspot.sources.poller import IncrementalPoller, PollerConfig
from hubsync.connectors.hubspot.sources.portal_polling import portal_poller
from hubsync.connectors.hubspot.sources.pull import pull_ids
from hubsync.connectors.hubspot.sources.runtime import ConnectorRuntime, connector_runtime
from hubsync.errors import ConfigurationError, HubsyncError
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.metrics import ConnectorMetrics, HubSpotClientMetrics, serve_metrics
from hubsync.settings import Settings, load_settings, public_app


class ObjectChoice(StrEnum):
    CONTACTS = "contacts"
    COMPANIES = "companies"


ALL_TYPES: tuple[HubSpotObjectType, ...] = ("contacts", "companies")


def _types(choice: ObjectChoice | None) -> tuple[HubSpotObjectType, ...]:
    if choice is None:
        return ALL_TYPES
    return ("contacts",) if choice is ObjectChoice.CONTACTS else ("companies",)


def _poller_config(settings: Settings, source: str) -> PollerConfig:
    return PollerConfig(overlap_ms=settings.poll_overlap_ms, settle_ms=settings.poll_settle_ms, source=source)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} records/s"),
        TimeElapsedColumn(),
        console=console_err,
    )


async def _full(
    runtime: ConnectorRuntime, types: tuple[HubSpotObjectType, ...], connector: str, source: str
) -> None:
    with _progress() as bar:
        for object_type in types:
            task = bar.add_task(f"{object_type} ({source.lower()})", total=None, rate=0.0)
            started = time.perf_counter()
            done = [0]

            def advance(
                n: int, task: TaskID = task, started: float = started, done: list[int] = done
            ) -> None:
                done[0] += n
                bar.update(task, completed=done[0], rate=done[0] / max(1e-6, time.perf_counter() - started))

            backfill = Backfill(
                runtime.client,
                runtime.publisher,
                runtime.cursors,
                runtime.properties,
                connector=connector,
                source=source,
                progress=advance,
                portal_id=runtime.portal_id,
            )
            result = await backfill.run(object_type)
            resumed = " (resumed)" if result.resumed else ""
            console_err.print(
                f"{object_type}: {result.records} records, {result.published} events"
                f" in {result.seconds:.1f}s{resumed}"
            )


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main``; hubsync's errors become a message and exit code 1, not a traceback."""
    try:
        asyncio.run(main)
    except ConfigurationError:
        raise  # the entry point's exit code 3
    except HubsyncError as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_FAILURE) from exc


def poller_command(
    full: bool = typer.Option(False, "--full", help="Backfill every record by list paging first."),
    once: bool = typer.Option(False, "--once", help="Poll once and exit (default: keep polling)."),
    interval: float = typer.Option(30.0, "--interval", help="Seconds between polls."),
    object_type: ObjectChoice | None = typer.Option(None, "--type", help="Only this object type."),
) -> None:
    """Publish HubSpot changes to Kafka by polling the search API (incremental by last-modified
    time, durable cursor committed after Kafka acknowledged). Serves /metrics."""
    settings = load_settings()
    configure_logging(settings)
    types = _types(object_type)
    kafka_ready(settings, "poller")
    connector_metrics = ConnectorMetrics.create()
    client_metrics = HubSpotClientMetrics.create()
    port = serve_metrics(settings, checks=readiness(settings))
    console_err.print(f"metrics on http://{settings.metrics_host}:{port}/metrics (/healthz, /readyz)")

    stopping = shutdown_handler(settings, "the poller")
    if public_app(settings) and settings.portal_id is None:
        # the public app with no portal named: every active install, as hubsync run polls them
        if full:
            console_err.print("[red]error:[/red] --full reads one portal: say which with --portal N")
            raise typer.Exit(2)
        every = _every_portal(settings, types, once, interval, connector_metrics, client_metrics, stopping)
        with contextlib.suppress(KeyboardInterrupt):
            _run(every)
        return

    async def main() -> None:
        # SIGTERM/SIGINT: finish the poll in progress (its cursor is saved after Kafka acknowledged it)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping, stop)
        async with connector_runtime(
            settings,
            source="poller",
            connector_metrics=connector_metrics,
            client_metrics=client_metrics,
            create_topics=False,  # kafka_ready did
        ) as runtime:
            if full:
                await _full(runtime, types, "backfill", "BACKFILL")
            poller = IncrementalPoller(
                runtime.client,
                runtime.publisher,
                runtime.cursors,
                runtime.properties,
                config=_poller_config(settings, "POLLER"),
                metrics=connector_metrics,
                portal_id=runtime.portal_id,
            )
            while not stop.is_set():
                pause = interval
                for ot in types:
                    try:
                        result = await poller.poll_once(ot)
                    except BLOCKED_ERRORS as exc:
                        if once:
                            raise
                        # nothing passes before HubSpot resets the limit or a person fixes the token:
                        # one try per wait, not a crash loop
                        pause = settings.hubspot_blocked_wait_s
                        console_err.print(f"[yellow]{exc}; polling again in {pause:.0f} s[/yellow]")
                        break
                    console_err.print(
                        f"{ot}: {result.published} events published, {result.skipped} already seen"
                    )
                    if stop.is_set():
                        break
                if once:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
            console_err.print("poller stopped")

    with contextlib.suppress(KeyboardInterrupt):
        _run(main())


async def _every_portal(
    settings: Settings,
    types: tuple[HubSpotObjectType, ...],
    once: bool,
    interval: float,
    connector_metrics: ConnectorMetrics,
    client_metrics: HubSpotClientMetrics,
    stopping: Callable[[asyncio.Event], None],
) -> None:
    """``hubsync poller`` for every portal of the public app: each round polls the active installs
    (:class:`~hubsync.connectors.hubspot.sources.portal_polling.PortalPoller`); a portal that fails
    is reported and polled again next round. ``--once``: one round, exit 1 if a portal failed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, stop)
    clients = PortalClients(settings, metrics=client_metrics)
    try:
        async with portal_poller(settings, clients, metrics=connector_metrics, types=types) as poller:
            while not stop.is_set():
                outcomes = await poller.round()
                for outcome in outcomes:
                    if outcome.error is not None:
                        why = f"portal {outcome.portal}: not polled this round: {outcome.error}"
                        console_err.print(f"[yellow]{why}[/yellow]")
                        continue
                    for object_type, published in outcome.published.items():
                        console_err.print(
                            f"portal {outcome.portal}: {object_type}: {published} events published"
                        )
                if once:
                    if any(o.error is not None for o in outcomes):
                        raise typer.Exit(EXIT_FAILURE)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
            console_err.print("poller stopped")
    finally:
        await clients.aclose()


def pull_command(
    object_type: ObjectChoice | None = typer.Argument(None, help="contacts or companies (default: both)."),
    full: bool = typer.Option(False, "--full", help="Every record, by list paging (resumable)."),
    ids: list[str] = typer.Option([], "--id", help="Only these record ids (repeatable)."),
) -> None:
    """Pull from HubSpot now: everything (--full), changes since the poller's cursor, or given
    records (--id). Events carry source MANUAL_PULL."""
    settings = load_settings()
    types = _types(object_type)
    if ids and len(types) != 1:
        console_err.print("[red]error:[/red] --id needs an object type: hubsync pull contacts --id 123")
        raise typer.Exit(2)
    kafka_ready(settings, "poller")

    async def main() -> None:
        async with connector_runtime(settings, source="manual_pull", create_topics=False) as runtime:
            if ids:
                pulled = await pull_ids(
                    runtime.client,
                    runtime.publisher,
                    types[0],
                    ids,
                    runtime.properties[types[0]],
                    portal_id=runtime.portal_id,
                )
                console_err.print(f"{types[0]}: {pulled.records} records pulled, {pulled.published} events")
                for missing, message in pulled.missing:
                    console_err.print(f"[yellow]not found:[/yellow] {missing}: {message}")
                return
            if full:
                await _full(runtime, types, "manual_pull", "MANUAL_PULL")
                return
            poller = IncrementalPoller(
                runtime.client,
                runtime.publisher,
                runtime.cursors,
                runtime.properties,
                config=_poller_config(settings, "MANUAL_PULL"),
                portal_id=runtime.portal_id,
            )
            for ot in types:
                result = await poller.poll_once(ot)
                console_err.print(f"{ot}: {result.published} events published")

    _run(main())
