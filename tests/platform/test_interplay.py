"""Platform-side writes together with the ingest path and with each other."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from hubsync.matching.duplicates import duplicates_of
from hubsync.platform import create_record, record_view
from tests.platform.conftest import activities, rows
from tests.platform.helpers import pull

pytestmark = pytest.mark.integration


def test_concurrent_creates_sharing_an_email_are_flagged(platform_db: str) -> None:
    """The first transaction holds its key lock until it commits; the second waits for it and then
    sees its row (READ COMMITTED), so the pair is flagged although neither saw the other at first."""
    started = threading.Event()
    first: list[int] = []

    def slow_create() -> None:
        with psycopg.connect(platform_db) as conn, conn.transaction():
            first.append(create_record(conn, "contact", {"email": "jane@acme.com"}))
            started.set()
            time.sleep(0.5)

    thread = threading.Thread(target=slow_create)
    thread.start()
    assert started.wait(10)
    with psycopg.connect(platform_db, autocommit=True) as conn:
        second = create_record(conn, "contact", {"email": "JANE@acme.com"})
        thread.join(10)
        assert duplicates_of(conn, "contact", second) == [(first[0], "email")]


def test_the_echo_of_a_pushed_create_links_the_record(conn: psycopg.Connection[Any]) -> None:
    """HubSpot's copy of a platform record (it carries hubsync_record_id) links to it: no second
    record, no duplicate pair, no conflict; the platform's values stay."""
    rid = create_record(conn, "contact", {"email": "jane@acme.com", "firstname": "Jane", "jobtitle": "CTO"})
    pull(
        conn,
        "4711",
        {"email": "jane@acme.com", "firstname": "Jane", "jobtitle": "CTO", "hubsync_record_id": str(rid)},
    )
    view = record_view(conn, rid)
    assert view["hubspot_id"] == "4711" and view["crm_status"] == "synced"
    assert view["duplicates"] == []
    assert rows(conn, "SELECT count(*) AS n FROM hubsync.contacts") == [{"n": 1}]
    assert "linked_to_hubspot" in [a["action"] for a in activities(conn, rid)]
    assert "conflict_lost" not in [a["action"] for a in activities(conn, rid)]


def test_a_linked_platform_contact_takes_its_prospect_out_of_net_new(conn: psycopg.Connection[Any]) -> None:
    conn.execute("INSERT INTO hubsync.prospect_people (email_normalized) VALUES ('jane@acme.com')")
    rid = create_record(conn, "contact", {"email": "jane@acme.com"})
    # not in HubSpot yet: still offered as net-new
    assert rows(conn, "SELECT in_crm FROM hubsync.prospect_people") == [{"in_crm": False}]
    pull(conn, "4711", {"email": "jane@acme.com", "hubsync_record_id": str(rid)})
    assert rows(conn, "SELECT in_crm, matched_contact_id FROM hubsync.prospect_people") == [
        {"in_crm": True, "matched_contact_id": rid}
    ]
