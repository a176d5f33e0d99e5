"""The command line starts without loading the pipeline: Faust, aiohttp and the sandbox load only for
the commands that run them (``hubsync --help``, ``status``, ``portals`` and the rest start faster)."""

from __future__ import annotations

import json
import subprocess
import sys

#: the ``faust`` package itself is a few lazy attributes; its app, worker and aiokafka are the weight
HEAVY = (
    "faust.app",
    "faust.worker",
    "aiokafka",
    "aiohttp",
    "hubsync.runner",
    "hubsync.worker",
    "hubsync.sandbox.server",
)


def test_the_cli_loads_no_pipeline_module_until_a_command_needs_it() -> None:
    probe = (
        "import json, sys; import hubsync.cli; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
