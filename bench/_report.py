"""Shared output for benchmarks: a Rich table on stdout and a JSON file under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def summarize(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "max": ordered[-1],
    }


def report(name: str, title: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print ``rows`` (each with metric, unit, target, min/median/max, ok) and write JSON."""
    table = Table(title=title)
    for column in ("metric", "min", "median", "max", "target", "ok"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows:
        unit = row.get("unit", "")
        table.add_row(
            row["metric"],
            f"{row['min']:.2f} {unit}",
            f"{row['median']:.2f} {unit}",
            f"{row['max']:.2f} {unit}",
            row.get("target", "-"),
            {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[row.get("ok")],
        )
    Console(width=140).print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": rows,
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2))
    Console().print(f"wrote {path}")
    return path
