"""SIGTERM drains within the grace period, and a stop in the middle of a load loses and duplicates
nothing: checked against the HubSpot sandbox's own records and PostgreSQL's, not a counter."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from hubsync.platform import create_record
from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import TOKEN
from tests.ingest.worker_harness import query
from tests.test_runner import RunProcess, sandbox_for_run

GRACE_S = 20


def test_a_drain_that_outlives_the_grace_period_ends_the_process_with_code_1() -> None:
    code = (
        "import logging, time\n"
        "from hubsync._runtime.shutdown import arm_shutdown_deadline\n"
        "logging.basicConfig()\n"
        "arm_shutdown_deadline(0.5, 'the stuck component')\n"
        "arm_shutdown_deadline(60, 'a second signal')\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert "the stuck component did not stop within its 0 s grace period" in result.stderr
    # where it was stuck, for whoever reads the log
    assert "line 6 in <module>" in result.stderr and "Current thread" in result.stderr
    assert time.monotonic() - started < 20  # the first deadline counts, not the later 60 s one


def _sandbox_contacts(api: httpx.Client) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": "100", "properties": "email"} | ({"after": after} if after else {})
        page = api.get("/crm/v3/objects/contacts", params=params)
        page.raise_for_status()
        body = page.json()
        records += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return records


@pytest.fixture
def sandbox_and_env(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> Iterator[tuple[ThreadedSandbox, dict[str, str], int]]:
    with sandbox_for_run(
        kafka_bootstrap_servers, fresh_database_url, partitions=2, HUBSYNC_SHUTDOWN_GRACE_S=str(GRACE_S)
    ) as (sandbox, setup, port):
        yield sandbox, dict(setup.env), port


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_sigterm_in_the_middle_of_a_load_loses_and_duplicates_nothing(
    sandbox_and_env: tuple[ThreadedSandbox, dict[str, str], int],
) -> None:
    sandbox, env, port = sandbox_and_env
    url = env["DATABASE_URL"]
    api = httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    run_id = uuid.uuid4().hex[:6]
    hubspot_emails = [f"hs-{run_id}-{i}@acme.com" for i in range(60)]
    platform_emails = [f"pf-{run_id}-{i}@globex.com" for i in range(40)]
    args = ("--webhook-port", str(port), "--poll-interval", "1")

    def load(start: int, stop: int) -> None:
        """HubSpot-side creations (webhooks + polls) and platform writes (outbox -> push), interleaved."""
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(start, stop):
                created = api.post(
                    "/crm/v3/objects/contacts", json={"properties": {"email": hubspot_emails[i]}}
                )
                assert created.status_code == 201, created.text
                if i < len(platform_emails):
                    create_record(conn, "contact", {"email": platform_emails[i]}, manual=True)
                time.sleep(0.05)

    first = RunProcess(env, name="run-1", args=args)
    try:
        first.start()
        first.wait_until(lambda: "webhook receiver on http://" in first.output(), "the receiver", timeout=90)
        loader = threading.Thread(target=load, args=(0, 30))
        loader.start()
        # the stop lands while events are in flight: after some, before all, of the first half is in
        first.wait_until(
            lambda: len(query(url, "SELECT 1 FROM hubsync.contacts WHERE hubspot_id IS NOT NULL")) >= 5,
            "the first records applied",
            timeout=60,
        )
        stopped_at = time.monotonic()
        code = first.stop(timeout=GRACE_S + 10)
        drained_in = time.monotonic() - stopped_at
        loader.join()
        assert code == 0, f"SIGTERM: exit code {code}; {first.describe()}"
        assert drained_in < GRACE_S, f"the drain took {drained_in:.1f} s; {first.describe()}"
    finally:
        first.close()

    load(30, 60)  # while nothing runs: webhooks fail (the poller catches up), the outbox fills

    second = RunProcess(env, name="run-2", args=args)
    try:
        second.start()

        def settled() -> bool:
            rows = query(url, "SELECT email, hubspot_id FROM hubsync.contacts")
            linked = [r for r in rows if r[1] is not None]
            return len(linked) == 100 and len(rows) == 100

        second.wait_until(settled, "all 100 contacts linked in PostgreSQL", timeout=120)
        assert second.stop(timeout=GRACE_S + 10) == 0, second.describe()
    finally:
        second.close()

    # HubSpot's side: every platform record pushed exactly once, nothing else created
    in_hubspot = Counter(r["properties"]["email"] for r in _sandbox_contacts(api))
    assert {e: n for e, n in in_hubspot.items() if n > 1} == {}, "duplicate HubSpot records"
    assert set(in_hubspot) == set(hubspot_emails) | set(platform_emails)
    # PostgreSQL's side: one row per HubSpot record, each linked to its own HubSpot id
    rows = query(url, "SELECT lower(email), hubspot_id FROM hubsync.contacts")
    assert len({hubspot_id for _, hubspot_id in rows}) == len(rows) == 100
    by_id = {r["id"]: r["properties"]["email"] for r in _sandbox_contacts(api)}
    assert {(email, by_id[hubspot_id]) for email, hubspot_id in rows} == {(e, e) for e in by_id.values()}
