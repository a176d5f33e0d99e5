"""Shared pieces of the command line: consoles, exit codes, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

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
