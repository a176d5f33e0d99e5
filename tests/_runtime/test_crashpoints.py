"""Crash points: parsed strictly, each one placed in the code once, and a process armed with one dies by
SIGKILL on exactly the n-th pass (the fault suite, ``bench/faults.py``, relies on all three)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hubsync._runtime import crashpoints
from hubsync._runtime.crashpoints import CRASH_POINTS, CrashPointError, parse

SRC = Path(crashpoints.__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("ingest.after_commit", ("ingest.after_commit", 1)), ("relay.after_mark:3", ("relay.after_mark", 3))],
)
def test_a_spec_names_a_point_and_its_pass(spec: str, expected: tuple[str, int]) -> None:
    assert parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ingest.after_comit", "unknown crash point 'ingest.after_comit'"),
        ("relay.after_mark:x", "count must be an integer"),
        ("relay.after_mark:0", "at least 1"),
    ],
)
def test_a_bad_spec_is_refused_with_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(CrashPointError, match=re.escape(message)):
        parse(spec)


def test_every_crash_point_is_placed_once_in_the_code_and_nothing_else_is() -> None:
    calls: list[str] = []
    for path in SRC.rglob("*.py"):
        calls += re.findall(r'crash_point\("([^"]+)"\)', path.read_text())
    assert sorted(calls) == sorted(CRASH_POINTS)


def test_unarmed_points_do_nothing() -> None:
    crashpoints.arm(None)
    for name in CRASH_POINTS:
        crashpoints.crash_point(name)


_SCRIPT = """
import sys
from hubsync._runtime.crashpoints import crash_point
for i in range(1, 6):
    print(i, flush=True)
    crash_point("relay.after_publish")
    crash_point("relay.after_mark")
"""


@pytest.mark.parametrize("n", [1, 3])
def test_an_armed_process_is_killed_on_the_nth_pass(n: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={"HUBSYNC_CRASH_AT": f"relay.after_mark:{n}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split() == [str(i) for i in range(1, n + 1)]


def test_a_process_started_with_a_bad_spec_stops_at_once_saying_why() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={"HUBSYNC_CRASH_AT": "relay.nowhere", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "unknown crash point 'relay.nowhere'" in result.stderr
