"""``hubsync prospects``: net-new prospects, i.e. the prospect database minus what the CRM holds."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import JsonOption, console, print_json, read_database
from hubsync.matching.prospects import net_new_organizations, net_new_people


class ProspectKind(StrEnum):
    PEOPLE = "people"
    ORGANIZATIONS = "organizations"


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def prospects_command(
    kind: ProspectKind = typer.Argument(ProspectKind.PEOPLE, help="Which prospects to list."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many, by id."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many first (paging)."),
    json_output: bool = JsonOption,
) -> None:
    """List net-new prospects: people (matched by e-mail) or organizations (matched by root domain)
    of the prospect database that are not in HubSpot."""
    if kind is ProspectKind.PEOPLE:
        rows = read_database(lambda conn: net_new_people(conn, limit, offset))
    else:
        rows = read_database(lambda conn: net_new_organizations(conn, limit, offset))
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print(f"no net-new {kind.value}")
        return
    if kind is ProspectKind.PEOPLE:
        table = Table("id", "email", "name", "organization", "attributes", title="Net-new people")
        for row in rows:
            name = " ".join(part for part in (row["first_name"], row["last_name"]) if part)
            table.add_row(
                str(row["id"]),
                _text(row["email"]),
                _text(name),
                _text(row["organization_id"]),
                _text(json.dumps(row["attributes"], sort_keys=True)),
            )
    else:
        table = Table("id", "name", "domain", "attributes", title="Net-new organizations")
        for row in rows:
            table.add_row(
                str(row["id"]),
                _text(row["name"]),
                _text(row["domain_root"] or row["domain"]),
                _text(json.dumps(row["attributes"], sort_keys=True)),
            )
    console.print(table)
