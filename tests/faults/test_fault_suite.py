"""The fault suite's short run (``bench/faults.py``, one trial per fault; the full run has ten):
every process killed with SIGKILL at each crash point, PostgreSQL restarted and its sessions cut,
a worker joining and leaving, a broker and the controller of a three-node Kafka cluster killed,
HubSpot's 5xx, dropped answers, timeouts and a 429 storm. After
each trial HubSpot, PostgreSQL and ``crm.contacts`` must agree with the ledger of every change
made (nothing lost, duplicated or regressed, every refused push in the error log)."""

from __future__ import annotations

import pytest
from bench.faults import failed, run

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("group", ["process", "infrastructure", "kafka", "hubspot"])
def test_the_pipeline_survives_every_fault_of_the_group(kafka_bootstrap_servers: str, group: str) -> None:
    rows = run(kafka_bootstrap_servers, trials=1, group=group, seed=11)
    faults = [r for r in rows if r["group"] == group]
    assert faults, f"no fault in group {group}"
    assert [r for r in rows if failed(r)] == []
    # the scan after the trials read every kind of output, and found no secret or personal data
    [security] = [r for r in rows if r["group"] == "security"]
    assert all(security["scanned"].values()), security["scanned"]
