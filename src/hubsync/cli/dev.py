"""``hubsync dev``: the embedded dev stack (Tansu broker + PostgreSQL) for a fresh laptop."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json
from hubsync.devstack import DevStackError, down, status, up
from hubsync.settings import Settings

app = typer.Typer(
    help="Embedded dev stack: a Kafka-compatible Tansu broker (memory storage) and PostgreSQL, "
    'no Docker or root needed. Start it with: eval "$(hubsync dev up)"',
    no_args_is_help=True,
)

DirOption = typer.Option(
    None,
    "--dir",
    help="Directory holding the stack's data, logs and state.json "
    "(default: $HUBSYNC_DEV_DIR, else ~/.hubsync/dev).",
    file_okay=False,
)


def _dev_dir(option: Path | None) -> Path:
    return (option if option is not None else Settings().dev_dir).expanduser()


@app.command("up")
def up_command(
    dev_dir: Path | None = DirOption,
    kafka_port: int | None = typer.Option(
        None, "--kafka-port", min=1, max=65535, help="Broker port (default: the last one used, else 19092)."
    ),
    pg_port: int | None = typer.Option(
        None, "--pg-port", min=1, max=65535, help="PostgreSQL port (default: the last one used, else 54329)."
    ),
) -> None:
    """Start the dev stack in the background (no-op when it already runs).

    Prints only `export ...` lines on stdout, so `eval "$(hubsync dev up)"` sets the
    KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL variables; progress goes to stderr.

    Other hubsync commands find the running stack by themselves, without those variables.
    """
    target = _dev_dir(dev_dir)
    started = time.monotonic()
    try:
        state = up(
            target,
            kafka_port=kafka_port,
            pg_port=pg_port,
            progress=lambda msg: console_err.print(
                f"[dim]dev:[/dim] {escape(msg)}", highlight=False, soft_wrap=True
            ),
        )
    except DevStackError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILURE) from exc
    console_err.print(
        f"[green]dev stack ready[/green] in {time.monotonic() - started:.1f}s "
        f"(kafka {state.kafka_bootstrap_servers}, postgres {state.database_url}, dir {state.dev_dir})",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(f"export KAFKA_BOOTSTRAP_SERVERS={shlex.quote(state.kafka_bootstrap_servers)}")
    typer.echo(f"export DATABASE_URL={shlex.quote(state.database_url)}")


@app.command("down")
def down_command(dev_dir: Path | None = DirOption) -> None:
    """Stop the dev stack. PostgreSQL data is kept for the next `up`; broker topics are not."""
    target = _dev_dir(dev_dir)
    try:
        down(target)
    except DevStackError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILURE) from exc
    console.print(f"dev stack stopped ({target})", highlight=False)


@app.command("status")
def status_command(dev_dir: Path | None = DirOption, json_output: bool = JsonOption) -> None:
    """Show whether the broker and PostgreSQL run and answer. Exit code 1 when either does not."""
    try:
        result = status(_dev_dir(dev_dir))
    except DevStackError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILURE) from exc
    if json_output:
        print_json(result.to_json())
    else:
        table = Table("component", "state", caption=str(result.dev_dir))
        table.add_column("address", overflow="fold")
        table.add_column("pid", justify="right")
        for component in (result.kafka, result.postgres):
            table.add_row(
                component.name,
                "[green]running[/green]" if component.running else "[red]not running[/red]",
                component.address or "-",
                str(component.pid) if component.pid else "-",
            )
        console.print(table)
    if not result.running:
        raise typer.Exit(EXIT_FAILURE)
