"""``hubsync errors [list|show ID|retry ID]``: the push error log."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json, read_database
from hubsync.push.errors import (
    ErrorNotFoundError,
    ErrorResolvedError,
    ErrorRow,
    get_error,
    list_errors,
    request_retry,
)

app = typer.Typer(
    help="The push error log: errors HubSpot returned to pushes (list, show, retry). "
    "Without a subcommand: list the open ones.",
    no_args_is_help=False,
)

AllOption = typer.Option(False, "--all", help="Every error, resolved and retrying ones too (default: open).")
LimitOption = typer.Option(50, "--limit", min=1, help="Show at most this many, most recent first.")


def _list(show_all: bool, limit: int, json_output: bool) -> None:
    rows = read_database(lambda conn: list_errors(conn, None if show_all else "open", limit))
    if json_output:
        print_json([row.to_json() for row in rows])
        return
    if not rows:
        console.print("no push errors" if show_all else "no open push errors")
        return
    table = Table(
        "id", "record", "operation", "status", "HTTP", "category", "message", "attempts", "last seen"
    )
    table.title = "Push errors" if show_all else "Open push errors"
    for row in rows:
        table.add_row(
            str(row.id),
            f"{row.object_type} {row.record_id}"
            + (f"\n[dim]HubSpot {escape(row.hubspot_id)}[/dim]" if row.hubspot_id else ""),
            row.operation,
            row.status,
            "-" if row.http_status is None else str(row.http_status),
            escape(row.category),
            escape(row.message[:200]),
            str(row.attempts),
            f"{row.last_seen:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@app.callback(invoke_without_command=True)
def errors_main(
    ctx: typer.Context,
    show_all: bool = AllOption,
    limit: int = LimitOption,
    json_output: bool = JsonOption,
) -> None:
    """The push error log: every error HubSpot returned to a push (after retries for 429 and 5xx),
    one open row per record, operation and category. Without a subcommand: the open errors."""
    if ctx.invoked_subcommand is None:
        _list(show_all, limit, json_output)


@app.command("list")
def list_command(
    show_all: bool = AllOption, limit: int = LimitOption, json_output: bool = JsonOption
) -> None:
    """List push errors, most recent first (open ones unless --all)."""
    _list(show_all, limit, json_output)


def _pretty(value: Any) -> str:
    return escape(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def _show(row: ErrorRow) -> None:
    table = Table(show_header=False, title=f"Push error {row.id}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    facts: list[tuple[str, str]] = [
        ("record", f"{row.object_type} {row.record_id}"),
        ("HubSpot id", row.hubspot_id or "-"),
        ("operation", row.operation),
        ("status", row.status),
        ("HTTP status", "-" if row.http_status is None else str(row.http_status)),
        ("record status", "-" if row.record_status is None else str(row.record_status)),
        ("category", row.category + (f" / {row.sub_category}" if row.sub_category else "")),
        ("message", row.message),
        ("correlationId", row.correlation_id or "-"),
        ("attempts", str(row.attempts)),
        ("first seen", row.first_seen.isoformat()),
        ("last seen", row.last_seen.isoformat()),
    ]
    for name, value in facts:
        table.add_row(name, escape(value))
    table.add_row("context", _pretty(row.context))
    if row.errors:
        table.add_row("errors", _pretty(row.errors))
    table.add_row("payload sent", "-" if row.payload is None else _pretty(row.payload))
    console.print(table)


@app.command("show")
def show_command(
    error_id: int = typer.Argument(..., help="The error's id (from `hubsync errors list`)."),
    json_output: bool = JsonOption,
) -> None:
    """Show one push error with HubSpot's context, error details and the payload that was sent."""
    row = read_database(lambda conn: get_error(conn, error_id))
    if row is None:
        console_err.print(f"[red]error:[/red] no push error with id {error_id}")
        raise typer.Exit(EXIT_FAILURE)
    if json_output:
        print_json(row.to_json())
        return
    _show(row)


@app.command("retry")
def retry_command(
    error_id: int = typer.Argument(..., help="The error's id (from `hubsync errors list`)."),
    json_output: bool = JsonOption,
) -> None:
    """Push the error's record again, once the cause is fixed: marks the error `retrying` and asks
    the push agent for a manual push of the record (which overrides the push settings). A new
    failure reopens the error; a success resolves it. An error already resolved (its record has
    pushed cleanly since) is reported as such, with exit code 0: there is nothing left to retry."""

    def retry(conn: psycopg.Connection[Any]) -> tuple[ErrorRow, str | None] | str:
        try:
            row, event_id = request_retry(conn, error_id)
        except ErrorNotFoundError as exc:
            return str(exc)
        except ErrorResolvedError:
            resolved = get_error(conn, error_id)
            assert resolved is not None  # request_retry found it
            return resolved, None
        return row, str(event_id)

    outcome = read_database(retry)
    if isinstance(outcome, str):
        console_err.print(f"[red]error:[/red] {escape(outcome)}")
        raise typer.Exit(EXIT_FAILURE)
    row, event_id = outcome
    if json_output:
        print_json({"error": row.to_json(), "outbox_event_id": event_id, "resolved": event_id is None})
        return
    if event_id is None:
        console.print(
            f"push error {row.id}: resolved; {row.object_type} {row.record_id} has pushed cleanly"
            f" since its last failure ({row.last_seen.isoformat()}): nothing to retry"
        )
        return
    console.print(
        f"push error {row.id}: {row.object_type} {row.record_id} queued for a manual push"
        f" (outbox event {event_id})"
    )
