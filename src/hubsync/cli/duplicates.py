"""``hubsync duplicates``: the open potential-duplicate pairs, never merged automatically."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import JsonOption, console, print_json, read_database
from hubsync.matching.duplicates import open_duplicates
from hubsync.records.kinds import ObjectKind


class ObjectChoice(StrEnum):
    CONTACT = "contact"
    ACCOUNT = "account"


def _describe(record: dict[str, Any]) -> str:
    label = record.get("email") or record.get("domain") or record.get("name") or "-"
    hubspot = record.get("hubspot_id") or "not in HubSpot"
    return (
        f"[bold]{record['id']}[/bold] {escape(str(label))}\n"
        f"[dim]{escape(str(record['creation_source']))}, {escape(str(hubspot))}[/dim]"
    )


def duplicates_command(
    object_type: ObjectChoice | None = typer.Option(
        None, "--object", help="Only pairs of this object type (default: contacts and accounts)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many pairs, newest first."),
    json_output: bool = JsonOption,
) -> None:
    """List open potential duplicates: pairs of records sharing an e-mail address (contacts), a root
    domain (accounts), or a name plus company. Duplicates are flagged, never merged automatically."""
    kind: ObjectKind | None = None
    if object_type is not None:
        kind = "contact" if object_type is ObjectChoice.CONTACT else "account"
    rows = read_database(lambda conn: open_duplicates(conn, kind, limit))
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print("no open potential duplicates")
        return
    table = Table("type", "signal", "record A", "record B", "detected", title="Open potential duplicates")
    for row in rows:
        table.add_row(
            str(row["object_type"]),
            str(row["signal"]),
            _describe(row["record_a"]),
            _describe(row["record_b"]),
            f"{row['detected_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)
