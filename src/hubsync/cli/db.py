"""``hubsync db``: schema migrations and default settings."""

from __future__ import annotations

from typing import Any

import psycopg
import typer
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json
from hubsync.settings import load_settings, require_database_url, scoped_conninfo
from hubsync.storage.defaults import DefaultsFileError, load_defaults, seed_defaults
from hubsync.storage.migrate import MigrationError, applied_versions, load_migrations, migrate
from hubsync.storage.roles import UnknownRoleError, grant_runtime_role

app = typer.Typer(help="Database schema and defaults.", no_args_is_help=True)


@app.command("migrate")
def migrate_command(json_output: bool = JsonOption) -> None:
    """Apply pending migrations and load default settings/mappings. Safe to run again:
    a second run changes nothing."""
    settings = load_settings()
    conninfo = require_database_url(settings)
    if settings.migration_database_url is not None:  # the schema owner; DATABASE_URL is the runtime role
        conninfo = scoped_conninfo(settings.migration_database_url.get_secret_value(), settings.portal_id)
    role = settings.database_runtime_role
    try:
        defaults = load_defaults(settings.field_mappings_file)
        report = migrate(conninfo, portal_id=settings.portal_id)
        with psycopg.connect(conninfo) as conn:
            seeded = seed_defaults(conn, defaults)
            if role is not None:
                grant_runtime_role(conn, role)
    except (MigrationError, DefaultsFileError, UnknownRoleError) as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_FAILURE) from exc
    result: dict[str, Any] = {
        "applied": [f"{m.version:04d}_{m.name}" for m in report.applied],
        "already_applied": len(report.already_applied),
        "settings_inserted": seeded.settings_inserted,
        "mappings_inserted": seeded.mappings_inserted,
        "changed": report.changed or bool(seeded.settings_inserted or seeded.mappings_inserted),
        "runtime_role": role,
    }
    if json_output:
        print_json(result)
        return
    for name in result["applied"]:
        console.print(f"applied [green]{name}[/green]")
    console.print(
        f"{len(report.applied)} migration(s) applied, {len(report.already_applied)} already applied; "
        f"{seeded.settings_inserted} default setting(s) and {seeded.mappings_inserted} mapping(s) loaded"
    )
    if role is not None:
        console.print(f"runtime role [green]{role}[/green]: rows read and written, no schema changes")


@app.command("status")
def status_command(json_output: bool = JsonOption) -> None:
    """Show which migrations are applied and which are pending."""
    conninfo = require_database_url(load_settings())
    with psycopg.connect(conninfo) as conn:
        known = applied_versions(conn)
    rows = [{"version": m.version, "name": m.name, "applied": m.version in known} for m in load_migrations()]
    if json_output:
        print_json(rows)
        return
    table = Table("version", "name", "state")
    for row in rows:
        state = "[green]applied[/green]" if row["applied"] else "[yellow]pending[/yellow]"
        table.add_row(f"{row['version']:04d}", str(row["name"]), state)
    console.print(table)
