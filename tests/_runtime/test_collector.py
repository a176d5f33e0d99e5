"""The garbage collector's tuning for long-running processes: frozen start-up heap, high thresholds,
cyclic garbage still collected, and every Faust process tunes it once its app is built."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

from hubsync._runtime import collector
from hubsync.streams import faust_app


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_tuning_freezes_the_start_up_heap_and_raises_the_thresholds() -> None:
    out = _run(
        """
        import gc
        from hubsync._runtime.collector import THRESHOLDS, tune_collector
        tune_collector()
        print(gc.get_threshold() == THRESHOLDS, gc.get_freeze_count() > 1000)
        """
    )
    assert out == "True True"


def test_cyclic_garbage_is_still_collected_after_tuning() -> None:
    """A reference cycle dropped after tuning goes with a later automatic collection, without
    anyone calling gc.collect()."""
    out = _run(
        """
        import weakref
        from hubsync._runtime.collector import THRESHOLDS, tune_collector
        tune_collector()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        before = alive() is not None
        keep = [[] for _ in range(THRESHOLDS[0] * 2)]  # container allocations trigger collections
        print(before, alive() is None)
        """
    )
    assert out == "True True"


def test_every_faust_process_tunes_the_collector_once_its_app_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    class Worker:
        def __init__(self, app: Any, **_: Any) -> None:
            calls.append("worker")

        def execute_from_commandline(self) -> None:
            calls.append("run")

    def build() -> Any:
        calls.append("build")
        return SimpleNamespace(settings=SimpleNamespace(log_level="INFO"))

    monkeypatch.setattr(faust_app.asyncio, "set_event_loop_policy", lambda policy: None)
    monkeypatch.setattr(faust_app, "_Worker", Worker)
    monkeypatch.setattr(faust_app, "tune_collector", lambda: calls.append("tune"))
    faust_app.run_app(build)
    assert calls == ["build", "tune", "worker", "run"]
    assert collector.THRESHOLDS[0] > 700  # CPython's default, which this replaces
