"""``hubsync topics``: create and inspect the Kafka topics."""

from __future__ import annotations

import typer
from rich.table import Table

from hubsync.cli._common import JsonOption, console, print_json
from hubsync.settings import load_settings, require_kafka
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.topics import topic_specs

app = typer.Typer(help="Kafka topics and their Avro contracts.", no_args_is_help=True)


@app.command("create")
def create_command(json_output: bool = JsonOption) -> None:
    """Create missing topics and fix the cleanup policy/retention of existing ones. Safe to rerun."""
    settings = load_settings()
    specs = topic_specs(settings)
    report = ensure_topics(admin_client(require_kafka(settings)), specs)
    if json_output:
        print_json(
            {
                "created": list(report.created),
                "existing": list(report.existing),
                "reconfigured": list(report.reconfigured),
                "partition_mismatches": [list(m) for m in report.partition_mismatches],
            }
        )
        return
    for name in report.created:
        console.print(f"created [green]{name}[/green]")
    for name in report.reconfigured:
        console.print(f"reconfigured [yellow]{name}[/yellow]")
    for name, have, want in report.partition_mismatches:
        console.print(
            f"[yellow]warning:[/yellow] {name} has {have} partitions, settings say {want}; "
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
