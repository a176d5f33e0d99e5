"""The fault suite's short run (``bench/faults.py``, one trial per fault; the full run has ten):
every process killed with SIGKILL at each crash point, PostgreSQL restarted and its sessions cut,
a worker joining and leaving, a broker and the controller of a three-node Kafka cluster killed,
HubSpot's 5xx, dropped answers, timeouts and a 429 storm. After
each trial HubSpot, PostgreSQL and ``crm.contacts`` must agree with the ledger of every change
made (nothing lost, duplicated or regressed, every refused push in the error log)."""

from __future__ import annotations

from typing import Any

import pytest
from bench._fault_oracle import PROBLEM_KINDS
from bench.faults import run

pytestmark = pytest.mark.integration


def _failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r["injected"] < r["trials"] or r["converged"] < r["trials"] or any(r[k] for k in PROBLEM_KINDS)
    ]


@pytest.mark.parametrize("group", ["process", "infrastructure", "kafka", "hubspot"])
def test_the_pipeline_survives_every_fault_of_the_group(kafka_bootstrap_servers: str, group: str) -> None:
    rows = run(kafka_bootstrap_servers, trials=1, group=group, seed=11)
    assert rows, f"no fault in group {group}"
    assert _failures(rows) == []
