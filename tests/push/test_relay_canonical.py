"""A record made, deleted or merged in the platform is on ``crm.contacts`` / ``crm.accounts`` as soon
as the relay publishes its outbox row, without waiting for HubSpot's echo of a push."""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from hubsync.console.actions import dismiss_duplicate
from hubsync.platform import create_record, delete_record, merge_records
from hubsync.push.relay import relay_from_settings
from hubsync.storage.canonical import alock_canonical, publishes_canonical
from hubsync.storage.defaults import load_defaults, seed_defaults
from tests.push.test_relay import CODEC, Setup, setup  # noqa: F401 - the setup fixture

pytestmark = pytest.mark.integration

CRM_CONTACT = CODEC.repository.current("crm_contact")
CRM_ACCOUNT = CODEC.repository.current("crm_account")


def _relay_once(setup: Setup) -> int | None:  # noqa: F811
    async def run() -> int | None:
        async with relay_from_settings(setup.settings, CODEC, registry=CollectorRegistry()) as relay:
            return await relay.run_once()

    return asyncio.run(run())


def _latest(setup: Setup, topic: str, expected: int) -> dict[int, dict[str, object]]:  # noqa: F811
    schema = CRM_CONTACT if topic == setup.topics.crm_contacts else CRM_ACCOUNT
    latest: dict[int, dict[str, object]] = {}
    for message in setup.drain(topic, expected):
        value = CODEC.decode(topic, schema, message.value())
        key = message.key()
        assert key is not None and int(key) == value["record_id"]
        latest[int(value["record_id"])] = value
    return latest


def test_platform_creates_deletes_and_merges_reach_crm_topics_at_once(setup: Setup) -> None:  # noqa: F811
    with psycopg.connect(setup.database_url) as conn:
        seed_defaults(conn, load_defaults())
        ada = create_record(conn, "contact", {"email": "ada@engines.co.uk", "firstname": "Ada"})
        ada2 = create_record(conn, "contact", {"email": "ada.l@engines.co.uk", "firstname": "Ada"})
        acme = create_record(conn, "account", {"name": "Acme", "domain": "acme.com"})
    assert _relay_once(setup) == 3
    contacts = _latest(setup, setup.topics.crm_contacts, 2)
    assert set(contacts) == {ada, ada2}
    assert contacts[ada]["email"] == "ada@engines.co.uk" and contacts[ada]["crm_status"] == "NOT_LINKED"
    assert contacts[ada]["creation_source"] == "PLATFORM" and contacts[ada]["deleted_at"] is None
    accounts = _latest(setup, setup.topics.crm_accounts, 1)
    assert accounts[acme]["name"] == "Acme" and accounts[acme]["deleted_at"] is None

    with psycopg.connect(setup.database_url) as conn:
        delete_record(conn, acme)
        merge_records(conn, ada, ada2)
        deleted_at = conn.execute("SELECT deleted_at FROM hubsync.accounts WHERE id = %s", (acme,)).fetchone()
    assert deleted_at is not None and deleted_at[0] is not None
    assert _relay_once(setup) == 2
    accounts = _latest(setup, setup.topics.crm_accounts, 2)
    published = accounts[acme]["deleted_at"]
    assert isinstance(published, datetime)
    assert abs((published - deleted_at[0]).total_seconds()) < 0.001  # timestamp-millis
    contacts = _latest(setup, setup.topics.crm_contacts, 4)
    assert contacts[ada2]["crm_status"] == "MERGED_IN_PLATFORM" and contacts[ada2]["merged_into_id"] == ada
    assert contacts[ada]["crm_status"] == "NOT_LINKED"


def _requests(setup: Setup) -> list[tuple[str, int]]:  # noqa: F811
    with psycopg.connect(setup.database_url) as conn:
        rows = conn.execute(
            "SELECT object_type, record_id FROM hubsync.crm_republish_all ORDER BY id"
        ).fetchall()
    return [(str(k), int(r)) for k, r in rows]


def test_a_pair_flagged_or_dismissed_outside_ingest_republishes_both_records(setup: Setup) -> None:  # noqa: F811
    """A record's ``potential_duplicate_ids`` change when a pair is flagged or dismissed: both
    records are published again, the one whose own row did not change too."""
    with psycopg.connect(setup.database_url) as conn:
        seed_defaults(conn, load_defaults())
        first = create_record(conn, "contact", {"email": "grace@navy.mil", "firstname": "Grace"})
    assert _relay_once(setup) == 1
    assert _latest(setup, setup.topics.crm_contacts, 1)[first]["potential_duplicate_ids"] == []
    with psycopg.connect(setup.database_url) as conn:  # the same e-mail: flagged with the first
        second = create_record(conn, "contact", {"email": "grace@navy.mil", "firstname": "G."})
    assert sorted(_requests(setup)) == [("contact", first), ("contact", second)]
    assert _relay_once(setup) == 1  # the outbox row of the create; the requests after it
    contacts = _latest(setup, setup.topics.crm_contacts, 4)
    assert contacts[first]["potential_duplicate_ids"] == [second]
    assert contacts[second]["potential_duplicate_ids"] == [first]
    assert _requests(setup) == []

    with psycopg.connect(setup.database_url) as conn:
        dismiss_duplicate(conn, "contact", first, second, "ops@example.com")
    assert _relay_once(setup) == 0  # no outbox row: the requests alone
    contacts = _latest(setup, setup.topics.crm_contacts, 6)
    assert contacts[first]["potential_duplicate_ids"] == [] == contacts[second]["potential_duplicate_ids"]
    assert _requests(setup) == []


def test_ingest_asks_only_for_the_pairs_it_drops(setup: Setup) -> None:  # noqa: F811
    """Ingest publishes both records of a pair it flags itself (after its commit); a pair it drops
    (a record merged away) is asked for like any other."""
    with psycopg.connect(setup.database_url) as conn:
        seed_defaults(conn, load_defaults())
        a = create_record(conn, "contact", {"email": "ann@acme.io"})
        b = create_record(conn, "contact", {"email": "bob@acme.io"})
        conn.execute("DELETE FROM hubsync.crm_republish_all")
        conn.commit()
        publishes_canonical(conn)
        conn.execute(
            "INSERT INTO hubsync.potential_duplicates (object_type, record_a, record_b, signal)"
            " VALUES ('contact', %s, %s, 'email')",
            (a, b),
        )
        assert conn.execute("SELECT count(*) FROM hubsync.crm_republish_all").fetchone() == (0,)
        conn.execute("DELETE FROM hubsync.potential_duplicates WHERE record_a = %s", (a,))
        assert conn.execute("SELECT count(*) FROM hubsync.crm_republish_all").fetchone() == (2,)


def test_the_relay_publishes_canonical_records_under_the_portals_lock(setup: Setup) -> None:  # noqa: F811
    """While another publisher (an ingest batch) holds the portal's canonical lock between its read
    and Kafka's acknowledgement, the relay neither reads nor publishes the records; it does once the
    lock is released, so the two cannot publish one record's states in the wrong order."""
    with psycopg.connect(setup.database_url) as conn:
        seed_defaults(conn, load_defaults())
        ada = create_record(conn, "contact", {"email": "ada@engines.co.uk", "firstname": "Ada"})

    async def run() -> tuple[bool, int | None]:
        async with (
            await psycopg.AsyncConnection.connect(setup.database_url) as holder,
            relay_from_settings(setup.settings, CODEC, registry=CollectorRegistry()) as relay,
        ):
            await holder.execute("SELECT 1")  # a transaction is open from here
            await alock_canonical(holder)
            round_ = asyncio.create_task(relay.run_once())
            done, _ = await asyncio.wait({round_}, timeout=3.0)
            waited = not done
            await holder.rollback()  # the lock goes with the transaction
            return waited, await asyncio.wait_for(round_, 60)

    waited, published = asyncio.run(run())
    assert waited, "the relay published while another publisher held the portal's canonical lock"
    assert published == 1
    assert set(_latest(setup, setup.topics.crm_contacts, 1)) == {ada}
