"""``hubsync demo`` end to end: embedded broker and PostgreSQL, the sandbox, every component, and
every step of the tour verified (the command exits 0 only when all of them were)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_the_demo_runs_every_step_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["HUBSYNC_DEV_DIR"] = str(tmp_path / "unused")  # the demo keeps its own stack in --dir
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubsync",
            "demo",
            "--json",
            "--dir",
            str(tmp_path / "demo"),
            "--contacts",
            "120",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    steps = json.loads(done.stdout)
    assert len(steps) == 12
    failed = [s for s in steps if not s["ok"]]
    assert failed == [], failed
    assert not (tmp_path / "demo" / "state.json").exists() or "stopped"  # the stack is stopped again
