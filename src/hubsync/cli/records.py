"""``hubsync records create|update|delete|show``: platform-side writes, standing in for the platform
application (SPEC section 3). Each write runs in one transaction with its outbox row.

Exit codes: 0 done; 2 bad input (``--set`` syntax, an unknown field, a value HubSpot's property
definition refuses, an invalid setting or merge); 1 the work failed (unknown or no longer writable
record, no enrichment value, database unreachable). Nothing is written on an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

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
from hubsync.platform import (
    InvalidField,
    InvalidFieldValue,
    InvalidMerge,
    InvalidSetting,
    PlatformWriteError,
    WriteResult,
    activity,
    create_record,
    delete_record,
    find_records,
    record_view,
    update_record,
)
from hubsync.platform.views import find_kind
from hubsync.records.kinds import ObjectKind

T = TypeVar("T")

app = typer.Typer(
    help="Create, update, delete and show platform records (standing in for the platform application).",
    no_args_is_help=True,
)

_USAGE_ERRORS = (InvalidField, InvalidFieldValue, InvalidSetting, InvalidMerge)

SetOption = typer.Option(
    [],
    "--set",
    metavar="FIELD=VALUE",
    help="A HubSpot property and its value (repeatable); FIELD= clears it.",
)


class RecordKind(StrEnum):
    CONTACT = "contact"
    ACCOUNT = "account"


class CreationSource(StrEnum):
    PLATFORM = "platform"
    IMPORT = "import"


def run_platform(action: Callable[[psycopg.Connection[Any]], T]) -> T:
    """Run a platform-side action on the configured database; its refusals become a clear error
    and exit code (2 for bad input, 1 otherwise)."""
    try:
        return read_database(action)
    except PlatformWriteError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_FAILURE) from exc


def parse_assignments(items: Sequence[str]) -> dict[str, str | None]:
    """``FIELD=VALUE`` items as a mapping (an empty value clears the field)."""
    fields: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise typer.BadParameter(f"expected FIELD=VALUE, got {item!r}", param_hint="--set")
        if name in fields:
            raise typer.BadParameter(f"field {name!r} is given twice", param_hint="--set")
        fields[name] = value or None
    return fields


def print_result(result: WriteResult, verb: str, json_output: bool) -> None:
    if json_output:
        print_json(result.to_json())
        return
    console.print(f"{verb} {result.object_type} [bold]{result.record_id}[/bold]")
    for name, (before, after) in result.changed.items():
        console.print(f"  {escape(name)}: {escape(repr(before))} -> {escape(repr(after))}")
    if result.outbox_id is not None:
        console.print(f"  outbox event {result.outbox_id}")
    for pair in result.duplicates:
        console.print(f"  flagged potential duplicate: {pair.record_a} / {pair.record_b} ({pair.signal})")


def print_view(view: dict[str, Any]) -> None:
    title = f"{view['object_type']} {view['id']}"
    table = Table("field", "value", title=title, show_header=False)
    hubspot = view["hubspot_id"] or "not in HubSpot"
    for label, value in (
        ("CRM status", view["crm_status"]),
        ("HubSpot id", hubspot),
        ("creation source", view["creation_source"]),
    ):
        table.add_row(label, escape(str(value)))
    if view["deleted_in_platform"]:
        table.add_row("deleted", "deleted in the platform")
    if view["merged_into_id"] is not None:
        table.add_row("merged into", str(view["merged_into_id"]))
    for name, value in sorted(view["properties"].items()):
        table.add_row(escape(name), escape("" if value is None else str(value)))
    duplicates = ", ".join(f"{d['record_id']} ({d['signal']})" for d in view["duplicates"])
    table.add_row("potential duplicates", duplicates or "none")
    links = view.get("accounts", view.get("contacts", []))
    if links:
        label = "accounts" if "accounts" in view else "contacts"
        table.add_row(
            label, ", ".join(f"{link['id']}{' (primary)' if link['is_primary'] else ''}" for link in links)
        )
    if view["merged_records"]:
        table.add_row("merged records", ", ".join(str(i) for i in view["merged_records"]))
    console.print(table)


def print_activity(record_id: int, entries: Sequence[Mapping[str, Any]]) -> None:
    """A record's activity log entries as a table, as given (newest first)."""
    table = Table(title=f"Activity of record {record_id}")
    table.add_column("when", no_wrap=True)
    table.add_column("action", no_wrap=True)
    for name in ("field", "before", "after", "rule", "cause"):
        table.add_column(name, overflow="fold")
    for e in entries:
        table.add_row(
            f"{e['occurred_at']:%Y-%m-%d %H:%M:%S}",
            e["action"],
            escape(e["field"] or ""),
            _shown(e["before"]),
            _shown(e["after"]),
            e["rule"] or "",
            escape(" ".join(str(x) for x in (e["cause_source"], e["cause_event"]) if x)),
        )
    console.print(table)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return escape(text if len(text) <= 60 else text[:59] + "…")


@app.command("create")
def create_command(
    kind: RecordKind = typer.Argument(..., help="contact or account."),
    assignments: list[str] = SetOption,
    source: CreationSource = typer.Option(CreationSource.PLATFORM, "--source", help="The creation source."),
    push: bool = typer.Option(False, "--push", help="Push it to HubSpot now, whatever the push settings."),
    json_output: bool = JsonOption,
) -> None:
    """Create a contact or account.

    Fields are HubSpot property names (email, firstname, lastname, company, ... / name, domain,
    industry, ...); mapped ones are validated by HubSpot's property definitions.
    """
    fields = parse_assignments(assignments)
    if not fields:
        raise typer.BadParameter("give at least one --set FIELD=VALUE", param_hint="--set")

    def create(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        record_id = create_record(conn, kind.value, fields, source=source.value, manual=push)
        return record_view(conn, record_id)

    view = run_platform(create)
    if json_output:
        print_json(view)
        return
    console.print(f"created {kind.value} [bold]{view['id']}[/bold]")
    print_view(view)


@app.command("update")
def update_command(
    record_id: int = typer.Argument(..., help="The record id (contact or account)."),
    assignments: list[str] = SetOption,
    json_output: bool = JsonOption,
) -> None:
    """Change fields of a record.

    Changed mapped fields are pushed to HubSpot; unmapped fields never sync.
    """
    fields = parse_assignments(assignments)
    if not fields:
        raise typer.BadParameter("give at least one --set FIELD=VALUE", param_hint="--set")
    print_result(run_platform(lambda conn: update_record(conn, record_id, fields)), "updated", json_output)


@app.command("delete")
def delete_command(
    record_id: int = typer.Argument(..., help="The record id (contact or account)."),
    json_output: bool = JsonOption,
) -> None:
    """Delete a record in the platform.

    The record is kept, marked deleted, and takes no more changes. HubSpot is not changed: delete
    it there too if it should go.
    """
    print_result(run_platform(lambda conn: delete_record(conn, record_id)), "deleted", json_output)


@app.command("show")
def show_command(
    record_id: int | None = typer.Argument(None, help="The record id (contact or account)."),
    hubspot_id: str | None = typer.Option(None, "--hubspot-id", help="Find it by its HubSpot id instead."),
    email: str | None = typer.Option(
        None, "--email", help="Find a contact by an e-mail address (primary or additional) instead."
    ),
    kind: RecordKind | None = typer.Option(
        None, "--kind", help="contact or account, when a HubSpot id names one of each."
    ),
    activity_limit: int = typer.Option(
        20, "--activity", min=0, help="Show this many activity log entries, newest first (0: none)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Show a record, found by its platform id, its HubSpot id or an e-mail address.

    CRM status, HubSpot id, creation source, values, potential duplicates, links and the newest
    entries of its activity log (what changed, the rule and the event that caused it).
    """
    given = [x for x in (record_id, hubspot_id, email) if x is not None]
    if len(given) != 1:
        console_err.print("[red]error:[/red] give a record id, --hubspot-id or --email (one of them)")
        raise typer.Exit(EXIT_USAGE)

    def show(conn: psycopg.Connection[Any]) -> list[tuple[ObjectKind, int]] | dict[str, Any]:
        if record_id is not None:
            matches: list[tuple[ObjectKind, int]] = [(find_kind(conn, record_id), record_id)]
        else:
            matches = find_records(
                conn, hubspot_id=hubspot_id, email=email, kind=None if kind is None else kind.value
            )
        if len(matches) != 1:
            return matches
        rid = matches[0][1]
        view = record_view(conn, rid)
        view["activity"] = activity(conn, rid, activity_limit) if activity_limit else []
        return view

    outcome = run_platform(show)
    if isinstance(outcome, list):
        what = f"HubSpot id {hubspot_id}" if hubspot_id is not None else f"e-mail {email}"
        if not outcome:
            console_err.print(f"[red]error:[/red] no record has {escape(what)}")
            raise typer.Exit(EXIT_FAILURE)
        found = ", ".join(f"{k} {i}" for k, i in outcome)
        console_err.print(
            f"[red]error:[/red] {len(outcome)} records have {escape(what)} ({found}):"
            " show one by its record id" + ("" if email is not None else " or pass --kind")
        )
        raise typer.Exit(EXIT_USAGE)
    if json_output:
        print_json(outcome)
        return
    print_view(outcome)
    if outcome["activity"]:
        print_activity(outcome["id"], outcome["activity"])
