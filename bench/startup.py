"""Start-up times of the service stacks: `hubsync dev up` (target < 30 s) and the test servers.

    python -m bench.startup [--trials N]

Measures, over N trials each:
- ``hubsync dev up`` as a user runs it (a subprocess: interpreter start, imports, Tansu broker,
  embedded PostgreSQL), cold (a new data directory, so initdb runs) and warm (after ``down``);
- the Apache Kafka 4.x test broker (jars already cached) and the PostgreSQL test server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import report, summarize
from hubsync.testing import ApacheKafkaServer, PostgresServer

DEV_UP_TARGET_S = 30.0


def _cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hubsync", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def dev_stack_times(trials: int) -> tuple[list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(trials):
        dev_dir = Path(tempfile.mkdtemp(prefix="hubsync-bench-dev-"))
        env = {**os.environ, "HUBSYNC_DEV_DIR": str(dev_dir)}
        try:
            cold.append(_cli(["dev", "up"], env))
            _cli(["dev", "down"], env)
            warm.append(_cli(["dev", "up"], env))
        finally:
            subprocess.run([sys.executable, "-m", "hubsync", "dev", "down"], env=env, capture_output=True)
            shutil.rmtree(dev_dir, ignore_errors=True)
    return cold, warm


def server_times(trials: int) -> tuple[list[float], list[float]]:
    ApacheKafkaServer().fetch_jars()
    kafka: list[float] = []
    postgres: list[float] = []
    for _ in range(trials):
        started = time.perf_counter()
        with ApacheKafkaServer():
            kafka.append(time.perf_counter() - started)
        started = time.perf_counter()
        with PostgresServer():
            postgres.append(time.perf_counter() - started)
    return kafka, postgres


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()

    cold, warm = dev_stack_times(args.trials)
    kafka, postgres = server_times(args.trials)
    rows: list[dict[str, Any]] = [
        {
            "metric": "hubsync dev up, cold (initdb)",
            "unit": "s",
            **summarize(cold),
            "target": f"< {DEV_UP_TARGET_S:.0f} s",
            "ok": max(cold) < DEV_UP_TARGET_S,
        },
        {
            "metric": "hubsync dev up, warm",
            "unit": "s",
            **summarize(warm),
            "target": f"< {DEV_UP_TARGET_S:.0f} s",
            "ok": max(warm) < DEV_UP_TARGET_S,
        },
        {
            "metric": "Apache Kafka test broker start (cached jars)",
            "unit": "s",
            **summarize(kafka),
            "ok": None,
        },
        {"metric": "PostgreSQL test server start", "unit": "s", **summarize(postgres), "ok": None},
    ]
    report("startup", "Start-up times", rows)
    if not all(row["ok"] in (True, None) for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
