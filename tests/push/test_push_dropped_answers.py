"""HubSpot applies a push and the answer never arrives (the connection drops): every retry path
(the client's own for updates and upserts, the batch's for everything) stays idempotent."""

from __future__ import annotations

import pytest

from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import Control
from tests.ingest.worker_harness import WorkerSetup
from tests.push.test_push_agent import (  # noqa: F401 - the sandbox, control and setup fixtures
    change,
    control,
    hubspot_records,
    one,
    platform_contact,
    push,
    sandbox,
    setup,
)

pytestmark = pytest.mark.integration


def test_creates_and_updates_applied_but_unanswered_make_no_second_record(
    setup: WorkerSetup,  # noqa: F811
    sandbox: ThreadedSandbox,  # noqa: F811
    control: Control,  # noqa: F811
) -> None:
    url = setup.database_url
    ids = [platform_contact(url, f"dropped{i}@acme.com", f"D{i}") for i in range(12)]
    control.http.post("/faults/drop-next", json={"n": 2}).raise_for_status()
    report = push(
        setup,
        sandbox,
        [change(rid, "CREATED", {"email": f"dropped{i}@acme.com"}) for i, rid in enumerate(ids)],
    )
    assert report.created == 12 and report.failed == 0
    dropped = [e for e in control.requests(path_prefix="/crm/") if e["dropped"]]
    assert len(dropped) == 2  # both answers really went missing
    mine = [r for r in hubspot_records(sandbox, "contacts") if r["properties"].get("hubsync_record_id")]
    assert sorted(int(r["properties"]["hubsync_record_id"]) for r in mine) == sorted(ids)  # none twice
    assert one(url, "SELECT count(*) AS n FROM hubsync.contacts WHERE hubspot_id IS NOT NULL")["n"] == 12

    # updates of the linked records, their answers dropped too: applied once, same end state
    control.http.post("/faults/drop-next", json={"n": 2}).raise_for_status()
    report = push(setup, sandbox, [change(rid, "UPDATED", {"jobtitle": "CTO"}) for rid in ids])
    assert report.updated == 12 and report.failed == 0
    mine = [
        r
        for r in hubspot_records(sandbox, "contacts", "jobtitle")
        if r["properties"]["email"].startswith("dropped")
    ]
    assert len(mine) == 12 and {r["properties"]["jobtitle"] for r in mine} == {"CTO"}
