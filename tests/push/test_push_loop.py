"""Pull and push together: an autofilled value reaches HubSpot, its echo changes nothing (the loop
quiesces), a manual enrichment is pushed whatever the mapping says, and a 429 storm still delivers
every change once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from hubsync.ingest.apply import IngestContext, apply_batch
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.platform import enrich_record
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.storage.outbox import payload_to_avro
from tests.connectors.hubspot.client_support import TOKEN, Control, control_fixture, sandbox_fixture
from tests.ingest import events_factory as f
from tests.ingest.worker_harness import WorkerSetup, prepare_worker
from tests.push.test_push_agent import hubspot_records, platform_contact, push, sandbox_create_contact

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    yield from sandbox_fixture()


@pytest.fixture
def control(sandbox: ThreadedSandbox) -> Iterator[Control]:
    yield from control_fixture(sandbox)


@pytest.fixture
def setup(kafka_bootstrap_servers: str, fresh_database_url: str) -> WorkerSetup:
    return prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)


def ingest(url: str, *values: dict[str, Any]) -> None:
    with psycopg.connect(url) as conn:
        context = IngestContext(
            mappings=load_mappings(conn),
            definitions={k: effective_definitions(conn, k) for k in ("contact", "account")},
        )
        apply_batch(conn, f.ces(values), context)
        conn.commit()


def unpublished_outbox(url: str) -> list[dict[str, Any]]:
    """The outbox rows not yet handed to the push agent, as PlatformChangeEvent values (the relay's
    conversion); marks them published."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "UPDATE hubsync.outbox SET published_at = now() WHERE published_at IS NULL RETURNING id, payload, seq"
        ).fetchall()
    return [payload_to_avro(r["id"], r["payload"]) for r in sorted(rows, key=lambda r: r["seq"])]


def test_an_autofilled_value_reaches_hubspot_and_its_echo_changes_nothing(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    hubspot_id = sandbox_create_contact(sandbox, "ada@acme.com", "Ada")
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO hubsync.prospect_people (email_normalized, attributes)"
            ' VALUES (\'ada@acme.com\', \'{"jobtitle": "Countess", "city": "London"}\')'
        )
    now = int(time.time() * 1000) - 60_000
    ingest(
        url, f.snapshot(hubspot_id, {"email": "ada@acme.com", "firstname": "Ada", "jobtitle": None}, at=now)
    )
    [mapped] = unpublished_outbox(url)
    assert mapped["change_type"] == "MAPPED_VALUES"
    assert mapped["changed_fields"] == {"jobtitle": "Countess", "city": "London"}

    report = push(setup, sandbox, [mapped])
    assert report.updated == 1
    [hs] = [r for r in hubspot_records(sandbox, "contacts") if r["id"] == hubspot_id]
    assert hs["properties"].get("firstname") == "Ada"

    # the echo: HubSpot reports the two property changes hubsync itself made
    echo_at = int(time.time() * 1000)
    ingest(
        url,
        f.property_change(hubspot_id, "jobtitle", "Countess", at=echo_at, change_source="INTEGRATION"),
        f.property_change(hubspot_id, "city", "London", at=echo_at, change_source="INTEGRATION"),
    )
    assert unpublished_outbox(url) == []  # nothing to push again: the system is quiet
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT properties FROM hubsync.contacts WHERE hubspot_id = %s", (hubspot_id,)
        ).fetchone()
    assert row is not None and row["properties"]["jobtitle"] == "Countess"


def test_a_manual_enrichment_is_pushed_even_where_the_mapping_is_none(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    hubspot_id = sandbox_create_contact(sandbox, "grace@navy.mil", "Grace")
    rid = platform_contact(url, "grace@navy.mil", "Grace", hubspot_id=hubspot_id)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE hubsync.field_mappings SET mode = 'none' WHERE hubspot_property = 'jobtitle'")
        conn.execute("UPDATE hubsync.settings SET value = 'false' WHERE key = 'push.enabled'")
    with psycopg.connect(url) as conn:
        enrich_record(conn, rid, "jobtitle", "Rear Admiral")
    [enriched] = unpublished_outbox(url)
    assert enriched["manual"] and enriched["change_type"] == "ENRICHED"
    report = push(setup, sandbox, [enriched])
    assert report.updated == 1
    records = hubspot_records(sandbox, "contacts", prop="jobtitle")
    [hs] = [r for r in records if r["id"] == hubspot_id]
    assert hs["properties"]["jobtitle"] == "Rear Admiral"


def test_a_429_storm_still_delivers_every_change_once(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    """Another integration spends the portal's budget at the same time, so hubsync's own pacing
    cannot avoid 429s: every change still reaches HubSpot exactly once."""
    url = setup.database_url
    ids = [platform_contact(url, f"storm{i}@acme.com", f"S{i}") for i in range(400)]
    control.limits(burst_limit=4, burst_window_s=1.0)
    stop = threading.Event()

    def other_integration() -> None:
        with httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            while not stop.wait(0.2):  # more than the portal allows: it answers 429s to everyone
                http.get("/crm/v3/objects/contacts", params={"limit": 1})

    hog = threading.Thread(target=other_integration, daemon=True)
    hog.start()
    try:
        report = push(setup, sandbox, [created(rid) for rid in ids])
    finally:
        stop.set()
        hog.join(10)
    # counted across the batch's attempts: what an attempt stored before another record's 429 made
    # it retry is created, not skipped as "nothing to push" by the attempt that finished the batch
    assert report.created == 400 and report.failed == 0 and report.skipped == []
    assert 429 in control.statuses("/crm/v3/objects/contacts")
    control.limits(burst_limit=100_000, burst_window_s=10.0)
    mine = [r for r in hubspot_records(sandbox, "contacts") if r["properties"].get("hubsync_record_id")]
    assert sorted(int(r["properties"]["hubsync_record_id"]) for r in mine) == sorted(ids)


def created(record_id: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "object_type": "CONTACT",
        "record_id": record_id,
        "change_type": "CREATED",
        "occurred_at": int(time.time() * 1000),
        "hubspot_id": None,
        "changed_fields": {},
        "field_rules": {},
        "field_timestamps": {},
        "manual": False,
        "merged_into_id": None,
        "cause_event": None,
    }
