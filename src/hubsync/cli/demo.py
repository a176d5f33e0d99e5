"""``hubsync demo``: the whole product on embedded defaults, with a narrated, self-checking tour."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json
from hubsync.demo import DEMO_DIR


def demo_command(
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Leave everything up after the tour (Ctrl-C stops it)."
    ),
    contacts: int = typer.Option(200, "--contacts", help="Contacts the HubSpot sandbox is seeded with."),
    directory: Path = typer.Option(
        DEMO_DIR, "--dir", help="Where the embedded broker and PostgreSQL keep their state."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Start an embedded Kafka-compatible broker and PostgreSQL, a seeded HubSpot sandbox and every
    hubsync component, then tour the product: pull, prospects, duplicates, autofill, overwrite,
    push, HubSpot deletes and merges, a platform merge, a validation error, a manual enrichment and
    the loop going quiet. Each step checks its outcome; exits 0 only when all did."""

    def say(message: str) -> None:
        console_err.print(message)

    # imported here: the embedded stack and the sandbox load only for the demo
    from hubsync.demo.environment import demo_environment
    from hubsync.demo.tour import run_tour

    with demo_environment(contacts=contacts, say=say, dev_dir=directory) as demo:
        results = run_tour(demo, say)
        table = Table(title="hubsync demo")
        for column in ("step", "result", "seconds", "what happened"):
            table.add_column(column)
        for r in results:
            status = "[green]ok[/green]" if r.ok else "[red]FAILED[/red]"
            table.add_row(r.name, status, f"{r.seconds:.1f}", escape(r.detail))
        if json_output:
            print_json(
                [{"step": r.name, "ok": r.ok, "seconds": r.seconds, "detail": r.detail} for r in results]
            )
        else:
            console.print(table)
        if keep_running:
            console_err.print("\nEverything is still running. In another shell:")
            for name in (
                "KAFKA_BOOTSTRAP_SERVERS",
                "DATABASE_URL",
                "HUBSPOT_BASE_URL",
                "HUBSPOT_ACCESS_TOKEN",
            ):
                console_err.print(f"  export {name}={demo.env[name]}")
            for role, topic in demo.settings.topics.model_dump().items():
                console_err.print(f"  export HUBSYNC_TOPICS__{role.upper()}={topic}")
            console_err.print(f"(state under {directory}); press Ctrl-C to stop everything.")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILURE)
