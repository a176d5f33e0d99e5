"""``hubsync status``: lag, last polls, outbox, errors and record counts."""

from __future__ import annotations

from typing import Any

import typer
from confluent_kafka import KafkaException
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json, read_database
from hubsync.settings import load_settings
from hubsync.status import database_status, kafka_status
from hubsync.streams.connection import kafka_connection


def status_command(json_output: bool = JsonOption) -> None:
    """Consumer lag of the agents per topic, messages on the DLQ and the error topic, the
    connectors' last polls, the outbox backlog, open push errors by category, records by CRM status,
    open potential duplicates and net-new prospects."""
    settings = load_settings()
    bootstrap = kafka_connection(settings)
    database = read_database(database_status)
    try:
        kafka = kafka_status(settings, bootstrap)
    except KafkaException as exc:
        console_err.print(f"[red]error:[/red] Kafka at {bootstrap} did not answer: {exc}")
        raise typer.Exit(EXIT_FAILURE) from exc
    report: dict[str, Any] = {**kafka, **database}
    if json_output:
        print_json(report)
        return
    lag = Table(title="consumer lag (hubsync worker)")
    for column in ("topic", "messages", "lag"):
        lag.add_column(column)
    for row in kafka["consumer_lag"]:
        lag.add_row(row["topic"], str(row["messages"]), "-" if row["lag"] is None else str(row["lag"]))
    console.print(lag)
    untrusted = [row["topic"] for row in kafka["consumer_lag"] if not row["broker_end_trusted"]]
    if untrusted:
        console.print(
            "note: the broker's end offsets of " + ", ".join(untrusted) + " are behind the messages it holds"
            " (the embedded dev broker reports a record batch's first offset); the lag above is measured from"
            " the messages read, not from the broker's numbers"
        )
    outbox = database["outbox"]
    age = outbox["oldest_unpublished_age_s"]
    console.print(
        f"outbox: {outbox['unpublished']} unpublished" + (f" (oldest {age:.0f} s)" if age is not None else "")
    )
    console.print(f"DLQ: {kafka['dlq_messages']} messages; push error topic: {kafka['push_error_messages']}")
    errors = database["push_errors_open"]
    console.print("open push errors: " + (", ".join(f"{c} {n}" for c, n in errors.items()) or "none"))
    for kind, statuses in database["records"].items():
        console.print(f"{kind}: " + (", ".join(f"{s} {n}" for s, n in sorted(statuses.items())) or "none"))
    portals = database["portals"]
    if portals["by_status"]:
        console.print(
            "portals (public app): " + ", ".join(f"{s} {n}" for s, n in portals["by_status"].items())
        )
        for portal in portals["not_syncing"]:
            console.print(f"  portal {portal['portal_id']} {portal['status']}: {portal['reason'] or '-'}")
    prospects = database["net_new_prospects"]
    console.print(
        f"open potential duplicates: {database['open_duplicates']}; net-new prospects:"
        f" {prospects['people']} people, {prospects['organizations']} organizations"
    )
    mappings = database["field_mappings"]
    workers = mappings["workers"]
    console.print(
        f"field mappings: version {mappings['version']}; running workers: "
        + (
            ", ".join(
                f"{w['worker_id']} version {w['mapping_version']}"
                + ("" if w["mapping_version"] >= mappings["version"] else " (behind)")
                for w in workers
            )
            or "none"
        )
    )
    for poll in database["last_polls"]:
        console.print(f"last {poll['connector']} {poll['object_type']}: {poll['at']}")
