"""Shared pieces of the command line: consoles, exit codes, JSON output, database access."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import typer
from rich.console import Console

from hubsync._runtime.shutdown import arm_shutdown_deadline
from hubsync.health import HealthChecks
from hubsync.settings import Settings, load_settings, require_database_url
from hubsync.storage.health import migrations_check, postgres_check
from hubsync.streams.access import Resource, authenticated_admin, component_grants, verify_grants
from hubsync.streams.admin import ensure_topics
from hubsync.streams.connection import KafkaConnection, kafka_connection
from hubsync.streams.health import broker_check
from hubsync.streams.topics import topic_specs

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
"""Exit codes scripts can rely on: 0 done, 1 the work failed, 2 bad usage, 3 missing configuration."""

console = Console()
console_err = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, without Rich markup or wrapping."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def read_database(query: Callable[[psycopg.Connection[Any]], T]) -> T:
    """Run ``query`` on a connection to the configured database; a database that cannot be reached
    or is not migrated is a clear error (exit code 1), not a traceback. The URL is never printed."""
    conninfo = require_database_url(load_settings())
    try:
        with psycopg.connect(conninfo) as conn:
            return query(conn)
    except psycopg.errors.UndefinedTable as exc:
        console_err.print("[red]error:[/red] the database is not migrated; run `hubsync db migrate`")
        raise typer.Exit(EXIT_FAILURE) from exc
    except psycopg.OperationalError as exc:
        console_err.print("[red]error:[/red] cannot connect to the database (check DATABASE_URL)")
        raise typer.Exit(EXIT_FAILURE) from exc


def readiness(settings: Settings) -> HealthChecks:
    """The ``/readyz`` checks every long-running component has: PostgreSQL answers, its migrations
    are at head, the Kafka cluster answers (components add their own, e.g. the consumer's)."""
    checks = HealthChecks()
    database_url = require_database_url(settings)
    checks.add("postgres", postgres_check(database_url))
    checks.add("migrations", migrations_check(database_url))
    checks.add("kafka", broker_check(kafka_connection(settings)))
    return checks


def kafka_ready(settings: Settings, *components: str) -> KafkaConnection:
    """Before a component starts: the cluster accepts the credentials, the topics the components use
    exist (created when missing, which needs the ``topics`` ACLs), and the principal has every ACL
    the components need (``docs/deploy.md#kafka-acls``). Raises a :class:`ConfigurationError`
    naming what to fix instead of leaving the clients retrying in the background."""
    kafka = kafka_connection(settings)
    admin = authenticated_admin(kafka)
    grants = tuple(grant for component in components for grant in component_grants(component, settings))
    used = {grant.name for grant in grants if grant.resource is Resource.TOPIC}
    ensure_topics(admin, [spec for spec in topic_specs(settings) if spec.name in used])
    verify_grants(admin, kafka, grants, component=" and ".join(components))
    return kafka


def shutdown_handler(settings: Settings, what: str) -> Callable[[asyncio.Event], None]:
    """A SIGTERM/SIGINT handler for a command's event loop: set its stop event, and give it
    ``HUBSYNC_SHUTDOWN_GRACE_S`` to drain before it exits anyway."""

    def stopping(stop: asyncio.Event) -> None:
        arm_shutdown_deadline(settings.shutdown_grace_s, what)
        stop.set()

    return stopping


def configure_logging(settings: Settings) -> None:
    """The long-running commands' log format and level; httpx's one INFO line per HubSpot request
    (poller, push, webhook fetches) would drown everything else, so it logs warnings only."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    httpx_log = logging.getLogger("httpx")
    httpx_log.setLevel(max(httpx_log.getEffectiveLevel(), logging.WARNING))
