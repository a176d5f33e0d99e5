"""``hubsync prospects [people|organizations|import|show]``: net-new prospects (the prospect database
minus what the CRM holds), loading the prospect database from CSV, and one prospect's view."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    JsonOption,
    console,
    console_err,
    print_json,
    read_database,
)
from hubsync.matching.prospects import net_new_organizations, net_new_people
from hubsync.platform.errors import InvalidProspectFile, ProspectNotFound
from hubsync.platform.prospects import ImportReport, load_prospects, parse_rows, prospect_view


class ProspectKind(StrEnum):
    PEOPLE = "people"
    ORGANIZATIONS = "organizations"


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


app = typer.Typer(
    help="Net-new prospects (the prospect database minus what the CRM holds); import and show prospects.",
    invoke_without_command=True,
)

LimitOption = typer.Option(50, "--limit", min=1, help="Show at most this many, by id.")
OffsetOption = typer.Option(0, "--offset", min=0, help="Skip this many first (paging).")


@app.callback()
def prospects_main(
    ctx: typer.Context, limit: int = LimitOption, offset: int = OffsetOption, json_output: bool = JsonOption
) -> None:
    """Without a command: the net-new people (as ``hubsync prospects people``)."""
    if ctx.invoked_subcommand is None:
        _list(ProspectKind.PEOPLE, limit, offset, json_output)


@app.command("people")
def people_command(
    limit: int = LimitOption, offset: int = OffsetOption, json_output: bool = JsonOption
) -> None:
    """Net-new people: prospect people (matched by e-mail) that are not in HubSpot."""
    _list(ProspectKind.PEOPLE, limit, offset, json_output)


@app.command("organizations")
def organizations_command(
    limit: int = LimitOption, offset: int = OffsetOption, json_output: bool = JsonOption
) -> None:
    """Net-new organizations: prospect organizations (matched by root domain) not in HubSpot."""
    _list(ProspectKind.ORGANIZATIONS, limit, offset, json_output)


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="A CSV file."),
    json_output: bool = JsonOption,
) -> None:
    """Load people and organizations from a CSV file into the prospect database.

    Columns: email, first_name, last_name (a person); domain, organization (an organization, or the
    person's); any other column is an enrichment value by HubSpot property name, the person's, or
    the organization's with an ``organization.`` prefix. Every row is checked first: a file with a
    bad row loads nothing and each bad row is named (exit 2). Loading again updates the same people
    and organizations.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            rows = parse_rows(lines)
    except InvalidProspectFile as exc:
        for problem in exc.problems:
            console_err.print(f"[red]error:[/red] {escape(problem)}")
        console_err.print(f"nothing loaded from {escape(str(path))}")
        raise typer.Exit(EXIT_USAGE) from None
    except UnicodeDecodeError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(path))} is not UTF-8 text ({exc.reason})")
        raise typer.Exit(EXIT_USAGE) from None

    def load(conn: psycopg.Connection[Any]) -> ImportReport:
        with conn.transaction():
            return load_prospects(conn, rows)

    report = read_database(load)
    if json_output:
        print_json(report.to_json())
        return
    console.print(
        f"loaded {report.people} people and {report.organizations} organizations from {escape(str(path))};"
        f" in the CRM already: {report.people_in_crm} people, {report.organizations_in_crm} organizations"
    )


@app.command("show")
def show_command(
    prospect_id: int = typer.Argument(..., help="The prospect's id (from `hubsync prospects`)."),
    organization: bool = typer.Option(False, "--organization", help="An organization's id, not a person's."),
    json_output: bool = JsonOption,
) -> None:
    """Show a prospect: its values, and whether it is in the CRM and as which record."""
    try:
        view = read_database(lambda conn: prospect_view(conn, prospect_id, organization=organization))
    except ProspectNotFound as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILURE) from None
    if json_output:
        print_json(view)
        return
    table = Table("field", "value", show_header=False, title=f"prospect {view['kind']} {view['id']}")
    for name, value in view.items():
        if name not in ("crm_record", "attributes", "kind"):
            table.add_row(name, _text(value))
    for name, value in sorted(view["attributes"].items()):
        table.add_row(escape(name), _text(value))
    record = view["crm_record"]
    table.add_row(
        "in the CRM",
        "no: a net-new prospect"
        if record is None
        else f"yes: {record['object_type']} {record['record_id']} (HubSpot {record['hubspot_id']})",
    )
    console.print(table)


def _list(kind: ProspectKind, limit: int, offset: int, json_output: bool) -> None:
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
