"""The push agent against the HubSpot sandbox, PostgreSQL and Kafka: creates, updates, settings,
idempotent retries, per-record errors, 409 duplicates and 5xx storms."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.push.agent import PushProcessor, PushReport
from hubsync.push.errors import ErrorTopicPublisher
from hubsync.push.failures import ErrorLog
from hubsync.push.setup import ensure_record_id_property
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.storage.pool import open_pool
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.producer import AsyncKafkaPublisher
from hubsync.testing import FakeKafkaRecord
from hubsync.testing.records import TIMESTAMP_CREATE_TIME
from tests.connectors.hubspot.client_support import (
    TOKEN,
    Control,
    control_fixture,
    make_client,
    sandbox_fixture,
)
from tests.ingest.worker_harness import TopicDrain, WorkerSetup, prepare_worker

pytestmark = pytest.mark.integration
REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)
SCHEMA = REPO.current("platform_change_event")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    yield from sandbox_fixture()


@pytest.fixture
def control(sandbox: ThreadedSandbox) -> Iterator[Control]:
    yield from control_fixture(sandbox)


@pytest.fixture
def setup(kafka_bootstrap_servers: str, fresh_database_url: str) -> WorkerSetup:
    return prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)


def change(record_id: int, change_type: str, fields: dict[str, str | None], **kw: Any) -> dict[str, Any]:
    kind = kw.pop("kind", "CONTACT")
    return {
        "event_id": str(uuid.uuid4()),
        "object_type": kind,
        "record_id": record_id,
        "change_type": change_type,
        "occurred_at": int(time.time() * 1000),
        "hubspot_id": None,
        "changed_fields": fields,
        "field_rules": {k: kw.get("rule", "platform") for k in fields},
        "field_timestamps": {k: int(time.time() * 1000) for k in fields},
        "manual": kw.get("manual", False),
        "merged_into_id": None,
        "cause_event": None,
    }


def push(
    setup: WorkerSetup,
    sandbox: ThreadedSandbox,
    values: list[dict[str, Any] | bytes],
    *,
    ensure_property: bool = True,
    **options: Any,
) -> PushReport:
    topic = setup.topics.platform_contacts
    messages = [
        FakeKafkaRecord(
            v if isinstance(v, bytes) else CODEC.encode(topic, SCHEMA, v),
            topic=topic,
            partition=0,
            offset=i,
            key=b"k",
            timestamp=(TIMESTAMP_CREATE_TIME, int(time.time() * 1000)),
        )
        for i, v in enumerate(values)
    ]

    async def run() -> PushReport:
        pool = open_pool(setup.database_url)
        try:
            async with (
                AsyncKafkaPublisher(setup.bootstrap, CODEC) as publisher,
                make_client(sandbox.base_url) as client,
            ):
                if ensure_property:
                    await ensure_record_id_property(client)
                processor = PushProcessor(
                    pool,
                    client,
                    CODEC,
                    DeadLetterPublisher.from_settings(setup.settings, publisher, CODEC),
                    ErrorLog(ErrorTopicPublisher.from_settings(setup.settings, publisher, CODEC)),
                    backoff=lambda _attempt: 0.05,
                    **options,
                )
                return await processor.process(messages)
        finally:
            pool.close()

    return asyncio.run(run())


def platform_contact(url: str, email: str, first: str = "Ada", hubspot_id: str | None = None) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id, email, first_name, properties)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                "platform" if hubspot_id is None else "hubspot",
                "not_linked" if hubspot_id is None else "synced",
                hubspot_id,
                email,
                first,
                psycopg.types.json.Jsonb({"email": email, "firstname": first}),
            ),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, %s, true)",
            (row[0], email.lower()),
        )
        return int(row[0])


def platform_account(url: str, name: str, domain: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO hubsync.accounts (creation_source, name, domain, domain_root, properties)"
            " VALUES ('platform', %s, %s, %s, %s) RETURNING id",
            (name, domain, domain, psycopg.types.json.Jsonb({"name": name, "domain": domain})),
        ).fetchone()
        assert row is not None
        return int(row[0])


def one(url: str, sql: str, *params: Any) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row


def hubspot_records(
    sandbox: ThreadedSandbox, object_type: str, prop: str = "hubsync_record_id"
) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with make_client(sandbox.base_url) as client:
            out: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                page = await client.get_page(
                    object_type, properties=[prop, "email", "firstname", "name", "industry"], after=after
                )
                out += list(page.results)
                after = page.after
                if not after:
                    return out

    return asyncio.run(run())


def set_setting(url: str, key: str, value: Any) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE hubsync.settings SET value = %s WHERE key = %s", (psycopg.types.json.Jsonb(value), key)
        )


def test_a_net_new_contact_is_created_once_and_linked(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    rid = platform_contact(url, "ada@acme.com")
    created = change(rid, "CREATED", {"email": "ada@acme.com", "firstname": "Ada"})
    report = push(setup, sandbox, [created])
    assert (report.created, report.failed) == (1, 0)
    [hs] = [
        r
        for r in hubspot_records(sandbox, "contacts")
        if r["properties"].get("hubsync_record_id") == str(rid)
    ]
    assert hs["properties"]["email"] == "ada@acme.com"
    row = one(url, "SELECT hubspot_id, crm_status, last_pushed_at FROM hubsync.contacts WHERE id = %s", rid)
    assert row["hubspot_id"] == hs["id"] and row["crm_status"] == "synced" and row["last_pushed_at"]
    assert (
        one(
            url,
            "SELECT count(*) AS n FROM hubsync.activity_log WHERE record_id = %s AND action = 'pushed'",
            rid,
        )["n"]
        == 1
    )

    # the link is lost (a timeout after HubSpot created it) and the create is retried: no second record
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE hubsync.contacts SET hubspot_id = NULL, crm_status = 'not_linked' WHERE id = %s", (rid,)
        )
    push(setup, sandbox, [created])
    mine = [
        r
        for r in hubspot_records(sandbox, "contacts")
        if r["properties"].get("hubsync_record_id") == str(rid)
    ]
    assert [r["id"] for r in mine] == [hs["id"]]
    assert one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"] == hs["id"]


def test_a_company_retried_after_a_timeout_is_not_created_twice(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    rid = platform_account(url, "Globex", "globex.io")
    created = change(rid, "CREATED", {"name": "Globex", "domain": "globex.io"}, kind="ACCOUNT")
    for _ in range(3):
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE hubsync.accounts SET hubspot_id = NULL WHERE id = %s", (rid,))
        push(setup, sandbox, [created])
    mine = [
        r
        for r in hubspot_records(sandbox, "companies")
        if r["properties"].get("hubsync_record_id") == str(rid)
    ]
    assert len(mine) == 1 and mine[0]["properties"]["name"] == "Globex"


def test_push_settings_govern_net_new_records_and_a_manual_push_always_works(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    set_setting(url, "push.enabled", False)
    rid = platform_contact(url, "grace@navy.mil", "Grace")
    report = push(setup, sandbox, [change(rid, "CREATED", {"email": "grace@navy.mil"})])
    assert report.created == 0 and "push disabled" in report.skipped[0].reason
    assert one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"] is None

    set_setting(url, "push.enabled", True)
    set_setting(url, "push.scope", "manual")
    report = push(setup, sandbox, [change(rid, "UPDATED", {"firstname": "Grace"})])
    assert report.created == 0 and "scope is manual" in report.skipped[0].reason

    set_setting(url, "push.enabled", False)
    report = push(setup, sandbox, [change(rid, "PUSH_REQUESTED", {}, manual=True)])
    assert report.created == 1
    assert one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"] is not None


def test_a_linked_record_is_updated_even_with_push_disabled(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    rid = platform_contact(url, "alan@acme.com", "Alan")
    push(setup, sandbox, [change(rid, "CREATED", {"email": "alan@acme.com", "firstname": "Alan"})])
    set_setting(url, "push.enabled", False)
    report = push(setup, sandbox, [change(rid, "UPDATED", {"firstname": "Alan M.", "notes": "unmapped"})])
    assert report.updated == 1
    hubspot_id = one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"]
    [hs] = [r for r in hubspot_records(sandbox, "contacts") if r["id"] == hubspot_id]
    assert hs["properties"]["firstname"] == "Alan M."


def test_a_validation_rule_rejection_reaches_the_error_log_with_hubspots_message(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    control.http.post(
        "/validation-rules",
        json={
            "object_type": "contact",
            "property": "firstname",
            "kind": "max_length",
            "max_length": 5,
            "message": "First names are at most 5 characters here",
        },
    ).raise_for_status()
    rid = platform_contact(url, "kat@acme.com", "Katherine")
    report = push(
        setup, sandbox, [change(rid, "CREATED", {"email": "kat@acme.com", "firstname": "Katherine"})]
    )
    assert (report.created, report.failed) == (0, 1)
    error = one(url, "SELECT * FROM hubsync.push_errors WHERE record_id = %s", rid)
    assert error["status"] == "open" and error["operation"] == "upsert"
    # the answer HubSpot gave was a 207 partial batch; the record's own status inside it was 400
    assert (error["http_status"], error["record_status"], error["category"]) == (207, 400, "VALIDATION_ERROR")
    # batch errors carry no correlationId of their own: HubSpot's header of that answer is kept
    upserts = control.http.get(
        "/requests", params={"path_prefix": "/crm/v3/objects/contacts/batch/upsert"}
    ).json()["results"]
    assert error["correlation_id"] is not None
    assert error["correlation_id"] in {entry["correlationId"] for entry in upserts}
    assert "5 characters" in error["message"]
    assert error["payload"]["properties"]["firstname"] == "Katherine"
    logged = one(
        url,
        "SELECT count(*) AS n FROM hubsync.activity_log WHERE record_id = %s AND action = 'push_failed'",
        rid,
    )
    assert logged["n"] == 1

    # fixed in HubSpot (the rule removed) and pushed again: the error is resolved
    control.http.delete("/validation-rules").raise_for_status()
    report = push(setup, sandbox, [change(rid, "PUSH_REQUESTED", {}, manual=True)])
    assert report.created == 1
    assert (
        one(url, "SELECT status FROM hubsync.push_errors WHERE record_id = %s", rid)["status"] == "resolved"
    )


def test_a_409_on_an_email_another_hubspot_contact_holds_flags_a_duplicate_and_overwrites_nothing(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    existing = sandbox_create_contact(sandbox, "linus@kernel.org", "Linus")
    mirrored = platform_contact(url, "linus@kernel.org", "Linus", hubspot_id=existing)
    rid = platform_contact(url, "linus@kernel.org", "Linus T.")
    report = push(
        setup, sandbox, [change(rid, "CREATED", {"email": "linus@kernel.org", "firstname": "Linus T."})]
    )
    assert (report.created, report.failed) == (0, 1)
    error = one(
        url,
        "SELECT http_status, record_status, category, message FROM hubsync.push_errors WHERE record_id = %s",
        rid,
    )
    assert (error["http_status"], error["record_status"]) == (207, 409) and existing in error["message"]
    pair = one(
        url, "SELECT record_a, record_b FROM hubsync.potential_duplicates WHERE object_type = 'contact'"
    )
    assert {pair["record_a"], pair["record_b"]} == {mirrored, rid}
    [hs] = [r for r in hubspot_records(sandbox, "contacts") if r["id"] == existing]
    assert hs["properties"]["firstname"] == "Linus"  # nothing overwritten in HubSpot


def test_a_batch_that_meets_the_daily_limit_waits_for_the_reset_and_is_pushed_then(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    """HubSpot's daily limit is used up: the batch is kept and tried once per wait (not retried
    at once, not dropped, no crash of the agent); once the limit resets it goes through."""
    url = setup.database_url
    rid = platform_contact(url, "daily@acme.com", "Day")
    limits = control.http.get("/rate-limits").json()
    # the test's own hubsync_record_id check (2 requests) passes; the push meets the limit
    control.http.put("/rate-limits", json={"daily_limit": limits["dailyUsed"] + 2}).raise_for_status()

    def midnight() -> None:
        time.sleep(1.5)
        control.http.put("/rate-limits", json={"daily_limit": limits["dailyLimit"]}).raise_for_status()

    resetter = threading.Thread(target=midnight)
    resetter.start()
    try:
        report = push(
            setup, sandbox, [change(rid, "CREATED", {"email": "daily@acme.com"})], blocked_wait_s=0.5
        )
    finally:
        resetter.join()
    assert report.created == 1 and report.failed == 0 and report.attempts >= 2
    refused = [e for e in control.requests(path_prefix="/crm/") if e["status"] == 429]
    assert 1 <= len(refused) <= 4  # one try per wait while the limit lasts
    assert one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"] is not None


def test_a_batch_refused_for_a_revoked_token_waits_for_a_working_token_and_is_pushed_then(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    """401 on every request (the private app deleted, the token rotated): the batch is kept and
    tried once per wait, never dropped, never sent to the error log as the record's fault; once
    a working token is in place (here: the same one accepted again) it goes through."""
    url = setup.database_url
    rid = platform_contact(url, "revoked@acme.com", "Rev")
    push(setup, sandbox, [])  # hubsync_record_id exists before the token goes
    control.faults(revoked_tokens=[TOKEN])

    def rotated() -> None:
        time.sleep(1.5)
        control.faults(revoked_tokens=[])

    fixer = threading.Thread(target=rotated)
    fixer.start()
    try:
        report = push(
            setup,
            sandbox,
            [change(rid, "CREATED", {"email": "revoked@acme.com"})],
            ensure_property=False,
            blocked_wait_s=0.5,
        )
    finally:
        fixer.join()
    assert report.created == 1 and report.failed == 0 and report.attempts >= 2
    refused = [e for e in control.requests(path_prefix="/crm/") if e["status"] == 401]
    assert 1 <= len(refused) <= 6
    assert one(url, "SELECT count(*) AS n FROM hubsync.push_errors WHERE record_id = %s", rid)["n"] == 0


def test_undecodable_and_unknown_schema_messages_go_to_the_dlq_and_the_rest_is_pushed(
    setup: WorkerSetup, sandbox: ThreadedSandbox
) -> None:
    url = setup.database_url
    rid = platform_contact(url, "fine@acme.com", "Fine")
    unknown_schema = b"\xc3\x01" + b"\x00" * 8 + b"\x02"  # single-object header, a fingerprint no schema has
    report = push(
        setup,
        sandbox,
        [b"not avro at all", unknown_schema, change(rid, "CREATED", {"email": "fine@acme.com"}), b""],
    )
    assert (report.dead_letters, report.created) == (3, 1)
    assert one(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid)["hubspot_id"] is not None
    drained = TopicDrain(setup.bootstrap, setup.topics.dlq, setup.partitions).drain()
    assert len(drained) == 3


def sandbox_create_contact(sandbox: ThreadedSandbox, email: str, first: str) -> str:
    async def run() -> str:
        async with make_client(sandbox.base_url) as client:
            outcome = await client.batch_create(
                "contacts", [{"properties": {"email": email, "firstname": first}}]
            )
            return str(outcome.succeeded[0].result["id"])

    return asyncio.run(run())


def test_5xx_storms_still_deliver_every_change_once(
    setup: WorkerSetup, sandbox: ThreadedSandbox, control: Control
) -> None:
    url = setup.database_url
    ids = [platform_contact(url, f"person{i}@acme.com", f"P{i}") for i in range(30)]
    control.faults(error_rate=0.5, error_statuses=[500, 502, 503, 504], seed=7)
    report = push(
        setup,
        sandbox,
        [change(rid, "CREATED", {"email": f"person{i}@acme.com"}) for i, rid in enumerate(ids)],
    )
    control.faults(error_rate=0.0)
    assert report.created == 30
    mine = [r for r in hubspot_records(sandbox, "contacts") if r["properties"].get("hubsync_record_id")]
    assert sorted(int(r["properties"]["hubsync_record_id"]) for r in mine) == sorted(ids)
    linked = one(url, "SELECT count(*) AS n FROM hubsync.contacts WHERE hubspot_id IS NOT NULL")["n"]
    assert linked == 30
