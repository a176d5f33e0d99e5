"""The ``hubsync`` command line. Each concern lives in its own module and registers a sub-app."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from hubsync import __version__
from hubsync.cli import console, db, dev, portals, records, topics
from hubsync.cli import errors as errors_cli
from hubsync.cli._common import EXIT_CONFIG, EXIT_FAILURE, console_err
from hubsync.cli.connectors import poller_command, pull_command
from hubsync.cli.demo import demo_command
from hubsync.cli.duplicates import duplicates_command
from hubsync.cli.platform_actions import (
    activity_command,
    enrich_command,
    merge_command,
    push_command,
    settings_app,
)
from hubsync.cli.prospects import app as prospects_app
from hubsync.cli.relay import relay_command
from hubsync.cli.replay import replay_command
from hubsync.cli.run import run_command
from hubsync.cli.sandbox import sandbox_command
from hubsync.cli.status import status_command
from hubsync.cli.webhook import webhook_command
from hubsync.cli.worker import worker_command
from hubsync.errors import ConfigurationError, RetriableError

app = typer.Typer(
    name="hubsync",
    help="Event-driven sync between HubSpot and the platform's PostgreSQL database, over Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(dev.app, name="dev")
app.add_typer(topics.app, name="topics")
app.add_typer(portals.app, name="portals")
app.command("sandbox")(sandbox_command)
app.command("webhook")(webhook_command)
app.command("poller")(poller_command)
app.command("pull")(pull_command)
app.command("duplicates")(duplicates_command)
app.add_typer(prospects_app, name="prospects")
app.command("run")(run_command)
app.command("worker")(worker_command)
app.command("replay")(replay_command)
app.command("demo")(demo_command)
app.command("status")(status_command)
app.command("relay")(relay_command)
app.add_typer(errors_cli.app, name="errors")
app.add_typer(records.app, name="records")
app.command("push")(push_command)
app.command("enrich")(enrich_command)
app.command("merge")(merge_command)
app.command("activity")(activity_command)
app.add_typer(settings_app, name="settings")
app.add_typer(console.app, name="console")


@app.callback()
def _global_options(
    portal: int | None = typer.Option(
        None,
        "--portal",
        min=1,
        help="The HubSpot portal to work on (HUBSYNC_PORTAL_ID); default: the only one.",
    ),
) -> None:
    if portal is not None:
        os.environ["HUBSYNC_PORTAL_ID"] = str(portal)


@app.command()
def version() -> None:
    """Print the hubsync version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point: maps configuration errors to a clear message and exit code."""
    try:
        app()
    except ValidationError as exc:
        # the settings named and what is wrong with them, never their values (they may be secrets)
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            console_err.print(f"[red]error:[/red] invalid setting {where}: {error['msg']}")
        sys.exit(EXIT_CONFIG)
    except ConfigurationError as exc:
        # a missing setting or file, Kafka credentials refused or an ACL missing: fix, then rerun
        console_err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_CONFIG)
    except RetriableError as exc:
        # a service unreachable at start (a component's own loop retries once it is running)
        console_err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_FAILURE)
