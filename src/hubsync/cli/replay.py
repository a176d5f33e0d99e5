"""``hubsync replay``: re-apply the field mappings from the change log in Kafka."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hubsync._runtime.collector import tune_collector
from hubsync.avro.codec import codec_from_settings
from hubsync.cli._common import EXIT_USAGE, JsonOption, console, console_err, print_json
from hubsync.cli.connectors import ObjectChoice
from hubsync.settings import load_settings
from hubsync.streams.connection import kafka_connection


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        console_err.print(f"[red]--since: not an ISO 8601 time: {value!r}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    if parsed.tzinfo is None:
        console_err.print("[red]--since needs a zone (e.g. 2026-01-01T00:00:00Z)[/red]")
        raise typer.Exit(EXIT_USAGE)
    return parsed


def replay_command(
    object_type: ObjectChoice | None = typer.Argument(None, help="contacts or companies (default: both)."),
    since: str | None = typer.Option(
        None, "--since", help="Replay changes from this time (ISO 8601 with a zone)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Re-run autofill/overwrite over the HubSpot change log in Kafka with the current field mappings,
    without calling HubSpot (cached property definitions). Mirrored values are not moved back;
    values decided go to the outbox for the push path. Reads up to the log's end at start."""
    # imported here: the ingest path (Faust) loads only for the command that runs it
    from hubsync.ingest.agents import ingest_processor
    from hubsync.ingest.replay import ReplayReport, replay

    settings = load_settings()
    bootstrap = kafka_connection(settings)
    start = _since(since)
    topics = []
    if object_type in (None, ObjectChoice.CONTACTS):
        topics += [settings.topics.hubspot_contacts, settings.topics.hubspot_contacts_backfill]
    if object_type in (None, ObjectChoice.COMPANIES):
        topics += [settings.topics.hubspot_companies, settings.topics.hubspot_companies_backfill]

    async def main() -> ReplayReport:
        async with ingest_processor(settings, codec_from_settings(settings), replay=True) as processor:
            with Progress(
                TextColumn("replay"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console_err,
            ) as bar:
                task = bar.add_task("replay", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return await replay(processor, bootstrap, topics, since=start, progress=advance)

    tune_collector()
    report = asyncio.run(main())
    r = report.result
    summary = {
        "messages": report.messages,
        "dead_letters": report.dead_letters,
        "applied": r.applied,
        "autofills": r.autofills,
        "overwrites": r.overwrites,
        "rejected_values": r.rejected_values,
        "outbox_events": r.outbox_events,
    }
    if json_output:
        print_json(summary)
    else:
        console.print(
            f"replayed {report.messages} change events: {r.autofills} autofills, {r.overwrites} overwrites"
            f" ({r.outbox_events} outbox events), {r.rejected_values} values rejected,"
            f" {r.applied} changes applied, {report.dead_letters} sent to the DLQ"
        )
