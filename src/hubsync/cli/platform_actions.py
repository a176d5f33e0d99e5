"""``hubsync push``, ``enrich``, ``merge``, ``settings`` and ``activity``: user actions on platform
records and the sync settings (exit codes as in :mod:`hubsync.cli.records`)."""

from __future__ import annotations

from typing import Any

import psycopg
import typer
from rich.markup import escape
from rich.table import Table

from hubsync._runtime.processes import wait_until
from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, print_json
from hubsync.cli.records import print_activity, print_result, run_platform
from hubsync.platform import activity, enrich_record, get_settings, merge_records, request_push, set_setting
from hubsync.platform.settings import MappingRollout, PlatformSettings, mapping_rollout, settings_rows


def push_command(
    record_ids: list[int] = typer.Argument(..., help="Record ids (contacts or accounts) to push."),
    json_output: bool = JsonOption,
) -> None:
    """Push records to HubSpot now, with all their mapped fields.

    A manual push works whatever the push settings: a net-new record is created in HubSpot even
    when push is disabled.
    """
    queued = run_platform(lambda conn: request_push(conn, record_ids))
    if json_output:
        print_json([{"record_id": rid, "outbox_id": str(oid)} for rid, oid in queued])
        return
    for rid, oid in queued:
        console.print(f"push requested for record [bold]{rid}[/bold] (outbox event {oid})")


def enrich_command(
    record_id: int = typer.Argument(..., help="The record id (contact or account)."),
    field: str = typer.Option(..., "--field", help="The HubSpot property to enrich."),
    value: str | None = typer.Option(
        None, "--value", help="The value; default: the matching prospect's (by e-mail or domain)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Manually enrich one field of a record.

    A manual enrichment is pushed to HubSpot whatever the push settings and the field's mapping
    mode; the value is validated by HubSpot's property definition.
    """
    result = run_platform(lambda conn: enrich_record(conn, record_id, field, value))
    print_result(result, "enriched", json_output)


def merge_command(
    survivor_id: int = typer.Argument(..., help="The record that stays."),
    merged_id: int = typer.Argument(..., help="The record merged into it (never pushed again)."),
    json_output: bool = JsonOption,
) -> None:
    """Merge two records of one type in the platform.

    Only the survivor is synced with HubSpot from then on; nothing is merged in HubSpot.
    """
    result = run_platform(lambda conn: merge_records(conn, survivor_id, merged_id))
    if json_output:
        print_json({**result.to_json(), "survivor_id": survivor_id, "merged_id": merged_id})
        return
    console.print(f"merged record [bold]{merged_id}[/bold] into [bold]{survivor_id}[/bold]")


def activity_command(
    record_id: int = typer.Argument(..., help="The record id (contact or account)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many entries, newest first."),
    json_output: bool = JsonOption,
) -> None:
    """Show a record's activity log, newest first.

    What happened, each field's before/after, the rule that made it and the event that caused it.
    """
    entries = run_platform(lambda conn: activity(conn, record_id, limit))
    if json_output:
        print_json(entries)
        return
    if not entries:
        console.print(f"no activity for record {record_id}")
        return
    print_activity(record_id, entries)


settings_app = typer.Typer(
    help="Show or change the sync settings (push.enabled, push.scope) and field-mapping modes.",
    invoke_without_command=True,
)


def _print_settings(settings: PlatformSettings, json_output: bool) -> None:
    if json_output:
        print_json(settings.to_json())
        return
    table = Table("key", "value", title="Sync settings")
    for key, value in settings_rows(settings).items():
        table.add_row(escape(key), escape(value))
    console.print(table)


@settings_app.callback()
def settings_main(ctx: typer.Context, json_output: bool = JsonOption) -> None:
    """Show the settings (also ``hubsync settings show``), or change one with ``set KEY VALUE``."""
    if ctx.invoked_subcommand is None:
        _print_settings(run_platform(get_settings), json_output)


@settings_app.command("show")
def settings_show(json_output: bool = JsonOption) -> None:
    """Show push.enabled, push.scope and every field mapping's mode."""
    _print_settings(run_platform(get_settings), json_output)


@settings_app.command("set")
def settings_set(
    key: str = typer.Argument(..., help="push.enabled, push.scope or mapping.<contact|account>.<property>."),
    value: str = typer.Argument(..., help="true/false; all/manual; none/autofill/overwrite."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="For a mapping: wait until every running worker applies it."
    ),
    timeout: float = typer.Option(30.0, "--timeout", min=0.0, help="Seconds to wait for the workers."),
    json_output: bool = JsonOption,
) -> None:
    """Change one setting.

    push.enabled (true/false), push.scope (all/manual), or a field mapping's mode:
    mapping.<contact|account>.<property> (none/autofill/overwrite). A mapping change waits until
    every running worker applies the new mapping version (they reload every 5 s), or says which
    did not within --timeout (exit 1).
    """

    def change(conn: psycopg.Connection[Any]) -> tuple[PlatformSettings, MappingRollout]:
        settings = set_setting(conn, key, value)
        return settings, mapping_rollout(conn)

    settings, rollout = run_platform(change)
    mapping = key.startswith("mapping.")
    if mapping and wait:
        rollout = _await_rollout(rollout, timeout)
    if json_output:
        extra = {"mapping_rollout": _rollout_json(rollout)} if mapping else {}
        print_json({**settings.to_json(), **extra})
    else:
        console.print(f"{escape(key)} = {escape(settings_rows(settings).get(key, value))}")
        if mapping:
            console.print(_rollout_text(rollout, waited=wait))
    if mapping and wait and not rollout.in_effect:
        raise typer.Exit(EXIT_FAILURE)


def _await_rollout(rollout: MappingRollout, timeout: float) -> MappingRollout:
    """Poll until every running worker applies ``rollout.version``, or ``timeout`` passed."""
    version = rollout.version
    latest = [rollout]

    def caught_up() -> bool:
        latest[0] = run_platform(lambda conn: mapping_rollout(conn, version))
        return latest[0].in_effect

    if not rollout.in_effect:
        wait_until(caught_up, timeout=timeout, interval=0.5)
    return latest[0]


def _rollout_json(rollout: MappingRollout) -> dict[str, Any]:
    return {
        "version": rollout.version,
        "in_effect": rollout.in_effect,
        "workers": [w.to_json() for w in rollout.live],
        "behind": [w.worker_id for w in rollout.behind],
    }


def _rollout_text(rollout: MappingRollout, *, waited: bool) -> str:
    if not rollout.live:
        return f"mapping version {rollout.version}: no worker is running; the change applies when one starts"
    if rollout.in_effect:
        return f"mapping version {rollout.version} is in effect on every running worker ({len(rollout.live)})"
    behind = ", ".join(f"{w.worker_id} (version {w.mapping_version})" for w in rollout.behind)
    if not waited:
        return f"mapping version {rollout.version}: not yet applied by {behind}"
    return f"mapping version {rollout.version} not in effect in time: still behind: {behind}"
