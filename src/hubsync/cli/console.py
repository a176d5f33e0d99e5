"""``hubsync console``: the admin console (``serve``) and its password users (``users``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import psycopg
import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    JsonOption,
    configure_logging,
    console,
    console_err,
    print_json,
    read_database,
    shutdown_handler,
)
from hubsync.errors import ConfigurationError
from hubsync.health import HealthChecks
from hubsync.metrics import serve_metrics
from hubsync.settings import load_settings, redact_url, require_database_url
from hubsync.storage.health import migrations_check, postgres_check

app = typer.Typer(help="The admin console in the browser (docs/console.md).", no_args_is_help=True)
users_app = typer.Typer(
    help="The console's password users (HUBSYNC_CONSOLE_AUTH=password).", no_args_is_help=True
)
app.add_typer(users_app, name="users")


@app.command("serve")
def serve_command(
    port: int = typer.Option(8090, "--port", "-p", help="TCP port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you mean it."),
) -> None:
    """Serve the console until interrupted. Off unless HUBSYNC_CONSOLE_AUTH and
    HUBSYNC_CONSOLE_SESSION_SECRET are set (docs/console.md)."""
    from hubsync.console.config import ConsoleConfig
    from hubsync.console.server import console_site

    settings = load_settings()
    config = ConsoleConfig.from_settings(settings)  # ConfigurationError: exit code 3
    database_url = require_database_url(settings)
    configure_logging(settings)
    # /healthz, /readyz (PostgreSQL answers, migrations at head) and /metrics on the metrics port,
    # like every component (the console's own port answers /healthz too)
    checks = HealthChecks()
    checks.add("postgres", postgres_check(database_url))
    checks.add("migrations", migrations_check(database_url))
    metrics_port = serve_metrics(settings, checks=checks)
    stopping = shutdown_handler(settings, "the console")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping, stop)
        async with console_site(config, database_url, host=host, port=port) as running:
            console_err.print(
                f"console on {running.url} (sign-in: {config.auth}), PostgreSQL {redact_url(database_url)};"
                f" metrics on {settings.metrics_host}:{metrics_port}"
            )
            await stop.wait()
            checks.stopping = True
        console_err.print("console stopped")

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except ConfigurationError:
        raise
    except (OSError, psycopg.Error) as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILURE) from None


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        console_err.print("[red]error:[/red] the passwords differ")
        raise typer.Exit(EXIT_USAGE)
    return str(first)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="1-64 letters, digits or _ . @ -"),
    role: str = typer.Option("viewer", "--role", help="viewer (reads) or admin (also changes and retries)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input instead of a prompt."
    ),
) -> None:
    """Add a console user, or set an existing one's password and role (argon2id hash stored)."""
    from hubsync.console.users import InvalidUserError, check_role, check_username, save_user

    try:
        check_username(username)
        check_role(role)
    except InvalidUserError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    password = _read_password(password_stdin)

    def save(conn: psycopg.Connection[Any]) -> Any:
        return save_user(conn, username, password, role)

    try:
        user = read_database(save)
    except InvalidUserError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    console.print(f"console user [bold]{escape(user.username)}[/bold] saved ({user.role})")


@users_app.command("list")
def users_list(json_output: bool = JsonOption) -> None:
    """The console's password users and their roles."""
    from hubsync.console.users import list_users

    users = read_database(list_users)
    if json_output:
        print_json(
            [
                {
                    "username": u.username,
                    "role": u.role,
                    "created_at": u.created_at.isoformat(),
                    "updated_at": u.updated_at.isoformat(),
                }
                for u in users
            ]
        )
        return
    table = Table("user", "role", "since", title="Console users")
    for u in users:
        table.add_row(escape(u.username), u.role, f"{u.created_at:%Y-%m-%d %H:%M}")
    console.print(table if users else "no console users")


@users_app.command("remove")
def users_remove(username: str = typer.Argument(..., help="The user to remove.")) -> None:
    """Remove a console user; their sessions stop at their next request."""
    from hubsync.console.users import remove_user

    if not read_database(lambda conn: remove_user(conn, username)):
        console_err.print(f"[red]error:[/red] no console user {escape(username)!r}")
        raise typer.Exit(EXIT_FAILURE)
    console.print(f"console user {escape(username)} removed")
