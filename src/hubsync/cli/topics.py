"""``hubsync topics``: create and inspect the Kafka topics."""

from __future__ import annotations

import typer
from rich.table import Table

from hubsync.cli._common import JsonOption, console, print_json
from hubsync.settings import load_settings
from hubsync.streams.access import authenticated_admin
from hubsync.streams.admin import ensure_topics
from hubsync.streams.connection import kafka_connection
from hubsync.streams.topics import topic_specs

app = typer.Typer(help="Kafka topics and their Avro contracts.", no_args_is_help=True)


@app.command("create")
def create_command(
    apply: bool = typer.Option(
        False, "--apply", help="Also set existing topics' differing configs to hubsync's defaults."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Create missing topics and report existing ones whose configuration differs from hubsync's
    defaults (cleanup policy, retention); those are changed only with --apply. Safe to rerun."""
    settings = load_settings()
    specs = topic_specs(settings)
    kafka = kafka_connection(settings)
    # the credentials first, before anything waits on them
    report = ensure_topics(authenticated_admin(kafka), specs, apply=apply)
    if json_output:
        print_json(
            {
                "created": list(report.created),
                "existing": list(report.existing),
                "reconfigured": list(report.reconfigured),
                "drift": [
                    {"topic": topic, "config": key, "value": have, "default": want}
                    for topic, key, have, want in report.drift
                ],
                "partition_mismatches": [list(m) for m in report.partition_mismatches],
            }
        )
        return
    for name in report.created:
        console.print(f"created [green]{name}[/green]")
    for topic, key, have, want in report.drift:
        verb = "set" if apply else "differs"
        console.print(f"{topic}: {key} = {have} ({verb}; hubsync's default is {want})")
    for name in report.reconfigured:
        console.print(f"reconfigured [yellow]{name}[/yellow]")
    if report.drift and not apply:
        console.print("left as they are: rerun with --apply to set hubsync's defaults")
    for name, partitions, wanted in report.partition_mismatches:
        console.print(
            f"[yellow]warning:[/yellow] {name} has {partitions} partitions, settings say {wanted}; "
            "not changed (it would move keys between partitions)"
        )
    console.print(f"{len(report.created)} created, {len(report.existing)} already present")


@app.command("list")
def list_command(json_output: bool = JsonOption) -> None:
    """Show every topic hubsync uses, its schema, key and cleanup policy (from the settings)."""
    specs = topic_specs(load_settings())
    if json_output:
        print_json(
            [
                {"role": s.role, "name": s.name, "schema": s.schema_stem, "key": s.key, "config": s.config}
                for s in specs
            ]
        )
        return
    table = Table("topic", "value schema", "key", "cleanup")
    for s in specs:
        table.add_row(s.name, f"schemas/{s.schema_stem}.avsc", s.key, s.config["cleanup.policy"])
    console.print(table)
