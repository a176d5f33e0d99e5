"""SPEC section 1 pull-side scenarios through :func:`hubsync.ingest.apply.apply_batch` against a real
PostgreSQL: mirroring, creation source, activity log and lineage, delete/merge, privacy deletion,
associations, potential duplicates, hubsync_record_id linking, prospects and field mapping, and
at-least-once delivery (shuffled, repeated, re-batched events converge on one state)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from hubsync.ingest.apply import BatchResult, IngestContext, apply_batch
from hubsync.mapping.store import load_mappings
from hubsync.mapping.values import PropertyDefinition
from hubsync.matching.prospects import net_new_organizations, net_new_people
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.testing import fresh_database
from tests.ingest import events_factory as f

pytestmark = pytest.mark.integration

DEFINITIONS: dict[str, dict[str, PropertyDefinition]] = {
    "contact": {
        "jobtitle": PropertyDefinition("jobtitle", "string"),
        "phone": PropertyDefinition("phone", "string"),
        "city": PropertyDefinition("city", "string"),
        "company": PropertyDefinition("company", "string"),
    },
    "account": {
        "industry": PropertyDefinition(
            "industry", "enumeration", "select", options=("COMPUTER_SOFTWARE", "FINANCIAL_SERVICES")
        ),
        "numberofemployees": PropertyDefinition("numberofemployees", "number"),
        "city": PropertyDefinition("city", "string"),
        "phone": PropertyDefinition("phone", "string"),
    },
}

ANN = {"email": "ann@acme.com", "firstname": "Ann", "lastname": "Lee", "company": "Acme"}


def prepare(url: str) -> None:
    migrate(url)
    with psycopg.connect(url) as conn:
        seed_defaults(conn, load_defaults())
        conn.commit()


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    prepare(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        yield connection


def run(conn: psycopg.Connection[Any], *values: Mapping[str, Any]) -> BatchResult:
    """Apply one batch and commit it, as the ingest agent does."""
    ctx = IngestContext(mappings=load_mappings(conn), definitions=DEFINITIONS)
    result = apply_batch(conn, f.ces(values), ctx)
    conn.commit()
    return result


def rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def contact(conn: psycopg.Connection[Any], hubspot_id: str) -> dict[str, Any]:
    [row] = rows(conn, "SELECT * FROM hubsync.contacts WHERE hubspot_id = %s", hubspot_id)
    return row


def account(conn: psycopg.Connection[Any], hubspot_id: str) -> dict[str, Any]:
    [row] = rows(conn, "SELECT * FROM hubsync.accounts WHERE hubspot_id = %s", hubspot_id)
    return row


def activity(
    conn: psycopg.Connection[Any], record_id: int, action: str | None = None
) -> list[dict[str, Any]]:
    query = (
        "SELECT action, field, before, after, rule, cause_source, cause_event, detail"
        " FROM hubsync.activity_log WHERE record_id = %s"
    )
    if action is None:
        return rows(conn, query + " ORDER BY id", record_id)
    return rows(conn, query + " AND action = %s ORDER BY id", record_id, action)


def activity_count(conn: psycopg.Connection[Any]) -> int:
    return int(one(conn, "SELECT count(*) FROM hubsync.activity_log"))


def outbox(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return rows(conn, "SELECT aggregatetype, aggregateid, type, payload FROM hubsync.outbox ORDER BY seq")


def pairs(conn: psycopg.Connection[Any]) -> set[tuple[str, str | None, str | None, str]]:
    """Potential duplicates by HubSpot id (None: a platform record), each pair sorted."""
    out = set()
    for r in rows(
        conn,
        """
        SELECT p.object_type, p.signal,
               coalesce(ca.hubspot_id, aa.hubspot_id) AS a, coalesce(cb.hubspot_id, ab.hubspot_id) AS b
          FROM hubsync.potential_duplicates p
          LEFT JOIN hubsync.contacts ca ON p.object_type = 'contact' AND ca.id = p.record_a
          LEFT JOIN hubsync.contacts cb ON p.object_type = 'contact' AND cb.id = p.record_b
          LEFT JOIN hubsync.accounts aa ON p.object_type = 'account' AND aa.id = p.record_a
          LEFT JOIN hubsync.accounts ab ON p.object_type = 'account' AND ab.id = p.record_b
        """,
    ):
        a, b = sorted([r["a"], r["b"]], key=lambda v: (v is not None, v or ""))
        out.add((r["object_type"], a, b, r["signal"]))
    return out


def insert_platform_contact(conn: psycopg.Connection[Any], email: str, **columns: Any) -> int:
    """A contact created in the platform (not in HubSpot), with its e-mail key as stored for dedup."""
    rid = int(
        one(
            conn,
            "INSERT INTO hubsync.contacts (creation_source, crm_status, email, first_name, last_name)"
            " VALUES ('platform', 'not_linked', %s, %s, %s) RETURNING id",
            email,
            columns.get("first_name"),
            columns.get("last_name"),
        )
    )
    conn.execute(
        "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, %s, true)",
        (rid, email.lower()),
    )
    conn.commit()
    return rid


# ---- created from HubSpot -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "creation_source"), [("POLLER", "hubspot"), ("MANUAL_PULL", "manual_pull")]
)
def test_created_from_hubspot(conn: psycopg.Connection[Any], source: str, creation_source: str) -> None:
    snap = f.snapshot("1", ANN, at=1_000, source=source)
    result = run(conn, snap)
    assert result.created == 1
    row = contact(conn, "1")
    assert row["creation_source"] == creation_source
    assert row["crm_status"] == "synced"
    assert (row["email"], row["first_name"], row["last_name"]) == ("ann@acme.com", "Ann", "Lee")
    assert row["properties"] == ANN
    assert row["merged_into_id"] is None and row["erased_at"] is None
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 1
    [created] = activity(conn, row["id"])
    assert created["action"] == "created_from_hubspot"
    assert created["after"] == ANN
    assert created["cause_event"] == snap["event_id"]
    assert created["cause_source"] == source
    assert created["rule"] == "mirror"
    assert one(conn, "SELECT count(*) FROM hubsync.contact_emails WHERE contact_id = %s", row["id"]) == 1


# ---- property changes -----------------------------------------------------------------------------


def test_newer_property_change_is_applied_with_lineage(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    change = f.property_change("1", "firstname", "Anne", at=2_000)
    run(conn, change)
    row = contact(conn, "1")
    assert row["first_name"] == "Anne" and row["properties"]["firstname"] == "Anne"
    [updated] = activity(conn, row["id"], "updated")
    assert (updated["field"], updated["before"], updated["after"], updated["rule"]) == (
        "firstname",
        "Ann",
        "Anne",
        "mirror",
    )
    assert updated["cause_event"] == change["event_id"]


def test_older_property_change_is_ignored(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=2_000))
    before = activity_count(conn)
    run(conn, f.property_change("1", "firstname", "Stale", at=1_500))
    row = contact(conn, "1")
    assert row["first_name"] == "Ann" and row["properties"]["firstname"] == "Ann"
    assert activity_count(conn) == before


def test_same_change_twice_logs_one_activity(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    change = f.property_change("1", "lastname", "Li", at=2_000)
    run(conn, change)
    run(conn, change)
    run(conn, change, change)
    rid = contact(conn, "1")["id"]
    assert len(activity(conn, rid, "updated")) == 1
    assert contact(conn, "1")["last_name"] == "Li"


# ---- at-least-once delivery: shuffled, repeated, re-batched ----------------------------------------

ANN_1300 = {"email": "ann.lee@acme.com", "firstname": "Anne", "lastname": "Li", "company": "Acme"}
DAN = {"email": "dan@delta.com", "firstname": "Dan", "lastname": "Day", "company": "Delta"}

HISTORY: list[dict[str, Any]] = [
    # 101: created, renamed, new e-mail, moved from company 201 to 202
    f.snapshot("101", ANN, at=1_000, companies=["201"]),
    f.property_change("101", "firstname", "Anne", at=1_100),
    f.property_change("101", "lastname", "Li", at=1_200),
    f.property_change("101", "email", "ann.lee@acme.com", at=1_250),
    f.snapshot(
        "101",
        ANN_1300,
        at=1_300,
        companies=["201"],
        property_timestamps={"email": 1_250, "firstname": 1_100, "lastname": 1_200, "company": 1_000},
    ),
    f.association("101", "201", at=1_400, removed=True),
    f.association("101", "202", at=1_450),
    # 102: deleted, restored, changed; associated with 203 then not, and with 201
    f.snapshot("102", {"email": "bob@beta.io", "firstname": "Bob", "lastname": "Stone"}, at=1_000),
    f.deletion("102", at=1_500),
    f.restore("102", at=1_600),
    f.property_change("102", "phone", "+1 555 0100", at=1_700),
    f.association("102", "203", at=1_100),
    f.association("102", "203", at=1_200, removed=True, from_company=True),
    f.association("102", "201", at=900, from_company=True),
    # 103 and 104: the same person twice in HubSpot, merged into 103
    f.snapshot("103", DAN, at=1_000),
    f.property_change("103", "city", "Leeds", at=1_500),
    f.property_change("103", "jobtitle", "CFO", at=2_100),  # after the merge: the survivor keeps syncing
    f.snapshot("104", {**DAN, "email": "Dan+crm@Delta.com", "company": "Delta Inc"}, at=1_050),
    f.property_change("104", "jobtitle", "Finance", at=1_900),  # before the merge: applies
    f.merge("103", ["104"], at=2_000),
    # 105: deleted for good
    f.snapshot("105", {"email": "eve@echo.com", "firstname": "Eve", "lastname": "Park"}, at=1_000),
    f.deletion("105", at=1_800),
    # 106: privacy deletion
    f.snapshot("106", {"email": "gus@golf.com", "firstname": "Gus", "lastname": "Grey"}, at=1_000),
    f.property_change("106", "firstname", "Gustav", at=1_100),
    f.privacy_deletion("106", at=1_200),
    # companies: 201 and 202 share a root domain
    f.company_snapshot("201", {"name": "Acme", "domain": "acme.com"}, at=1_000),
    f.company_snapshot("202", {"name": "Acme Europe", "domain": "www.acme.com"}, at=1_000),
    f.property_change("202", "name", "Acme EU", at=1_300, object_type="COMPANY"),
    f.company_snapshot("203", {"name": "Beta", "domain": "beta.io"}, at=1_000),
    f.property_change("203", "phone", "+1 555 0199", at=1_100, object_type="COMPANY"),
]


def final_state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    return {
        "contacts": [
            tuple(r)
            for r in conn.execute(
                "SELECT hubspot_id, crm_status, properties, email, first_name, last_name,"
                " crm_merged_into_hubspot_id, erased_at IS NULL, merged_into_id"
                " FROM hubsync.contacts ORDER BY hubspot_id"
            )
        ],
        "accounts": [
            tuple(r)
            for r in conn.execute(
                "SELECT hubspot_id, crm_status, properties, name, domain, domain_root,"
                " crm_merged_into_hubspot_id, merged_into_id FROM hubsync.accounts ORDER BY hubspot_id"
            )
        ],
        "contact_emails": sorted(
            tuple(r)
            for r in conn.execute(
                "SELECT c.hubspot_id, e.email_normalized, e.is_primary FROM hubsync.contact_emails e"
                " JOIN hubsync.contacts c ON c.id = e.contact_id"
            )
        ),
        "links": sorted(
            tuple(r)
            for r in conn.execute(
                "SELECT c.hubspot_id, a.hubspot_id FROM hubsync.contact_account_links l"
                " JOIN hubsync.contacts c ON c.id = l.contact_id JOIN hubsync.accounts a ON a.id = l.account_id"
                " WHERE l.removed_at IS NULL"
            )
        ),
        "duplicates": sorted(pairs(conn), key=repr),
    }


def deliver(url: str, events: Sequence[dict[str, Any]], rnd: random.Random) -> dict[str, Any]:
    """Apply ``events`` in random batch sizes into the database at ``url``; its final state."""
    prepare(url)
    with psycopg.connect(url) as conn:
        i = 0
        while i < len(events):
            size = rnd.randint(1, 8)
            run(conn, *events[i : i + size])
            i += size
        return final_state(conn)


def test_history_in_order_gives_the_expected_state(fresh_database_url: str) -> None:
    """The reference the shuffled deliveries are compared with, checked by hand."""
    state = deliver(fresh_database_url, HISTORY, random.Random(0))
    contacts = {r[0]: r for r in state["contacts"]}
    assert contacts["101"][2] == ANN_1300 and contacts["101"][3] == "ann.lee@acme.com"
    assert contacts["102"][1] == "synced" and contacts["102"][2]["phone"] == "+1 555 0100"
    assert contacts["103"][1:3] == ("synced", {**DAN, "city": "Leeds", "jobtitle": "CFO"})
    assert contacts["104"][1] == "merged_in_crm" and contacts["104"][6] == "103"
    assert contacts["104"][2]["jobtitle"] == "Finance"
    assert contacts["105"][1] == "deleted_in_crm" and contacts["105"][2]["email"] == "eve@echo.com"
    assert contacts["106"][2:6] == ({}, None, None, None) and contacts["106"][7] is False
    assert all(r[8] is None for r in state["contacts"])
    assert {r[0]: r[3] for r in state["accounts"]} == {"201": "Acme", "202": "Acme EU", "203": "Beta"}
    assert state["links"] == [("101", "202"), ("102", "201")]
    assert ("106", "gus@golf.com", True) not in state["contact_emails"]
    assert ("101", "ann.lee@acme.com", True) in state["contact_emails"]
    assert ("101", "ann@acme.com", True) not in state["contact_emails"]
    assert ("contact", "103", "104", "email") in state["duplicates"]
    assert ("account", "201", "202", "domain") in state["duplicates"]


def test_shuffled_repeated_rebatched_delivery_converges(database_url: str, fresh_database_url: str) -> None:
    expected = deliver(fresh_database_url, HISTORY, random.Random(0))
    for seed in range(10):
        rnd = random.Random(seed)
        events = list(HISTORY)
        for extra in rnd.sample(HISTORY, 10):
            events.extend([extra] * rnd.randint(1, 2))  # delivered 2-3 times in all
        rnd.shuffle(events)
        with fresh_database(database_url) as url:
            got = deliver(url, events, rnd)
        for part in expected:
            assert got[part] == expected[part], f"permutation {seed}: {part} differs"


def test_duplicate_flags_do_not_depend_on_the_arrival_order(database_url: str) -> None:
    """A record's name changes after a snapshot: delivered in order, the old name matches another
    record's for a while; delivered newest first, it never does. The open pairs must not differ."""
    events = [
        f.snapshot(
            "1", {"email": "dan@delta.com", "firstname": "Dan", "lastname": "Day", "company": "Delta"}, at=1
        ),
        f.snapshot(
            "2",
            {"email": "d2@delta.com", "firstname": "Dan", "lastname": "Day", "company": "Delta"},
            at=1_000,
        ),
        f.property_change("2", "firstname", "Dana", at=2_000),
    ]
    results = []
    for order in (events, [events[0], events[2], events[1]]):
        with fresh_database(database_url) as url:
            prepare(url)
            with psycopg.connect(url) as conn:
                for event in order:
                    run(conn, event)
                assert contact(conn, "2")["first_name"] == "Dana"
                results.append(pairs(conn))
    assert results[0] == results[1]


def test_older_primary_association_does_not_move_the_primary(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    run(conn, f.association("1", "10", at=3_000, is_primary=True))
    run(conn, f.association("1", "11", at=2_000, is_primary=True))  # older, delivered late
    primary = rows(
        conn,
        "SELECT a.hubspot_id FROM hubsync.contact_account_links l JOIN hubsync.accounts a ON a.id = l.account_id"
        " WHERE l.is_primary AND l.removed_at IS NULL",
    )
    assert [r["hubspot_id"] for r in primary] == ["10"]


# ---- deleted in HubSpot ---------------------------------------------------------------------------


def test_deleted_in_hubspot_is_kept_and_restore_resumes(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    deleted = f.deletion("1", at=2_000)
    run(conn, deleted)
    row = contact(conn, "1")
    assert row["crm_status"] == "deleted_in_crm"
    assert row["properties"] == ANN and row["email"] == "ann@acme.com"
    [logged] = activity(conn, row["id"], "deleted_in_crm")
    assert logged["cause_event"] == deleted["event_id"]
    restored = f.restore("1", at=3_000)
    run(conn, restored)
    assert contact(conn, "1")["crm_status"] == "synced"
    [logged] = activity(conn, row["id"], "restored_in_crm")
    assert logged["cause_event"] == restored["event_id"]


def test_restore_older_than_the_deletion_is_ignored(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    run(conn, f.deletion("1", at=3_000))
    run(conn, f.restore("1", at=2_000))
    row = contact(conn, "1")
    assert row["crm_status"] == "deleted_in_crm"
    assert activity(conn, row["id"], "restored_in_crm") == []


# ---- merged in HubSpot ----------------------------------------------------------------------------


def test_merged_in_hubspot_is_not_merged_in_the_platform(conn: psycopg.Connection[Any]) -> None:
    bob = {"email": "bob@beta.io", "firstname": "Bob", "lastname": "Stone"}
    run(conn, f.snapshot("1", ANN, at=1_000), f.snapshot("2", bob, at=1_000))
    merged = f.merge("1", ["2"], at=2_000)
    run(conn, merged)
    primary, away = contact(conn, "1"), contact(conn, "2")
    assert primary["crm_status"] == "synced" and primary["properties"] == ANN
    assert away["crm_status"] == "merged_in_crm"
    assert away["crm_merged_into_hubspot_id"] == "1"
    assert away["properties"] == bob and away["email"] == "bob@beta.io"
    assert primary["merged_into_id"] is None and away["merged_into_id"] is None
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 2
    [logged] = activity(conn, away["id"], "merged_in_crm")
    assert logged["cause_event"] == merged["event_id"]
    assert logged["after"] == "1"
    # the survivor keeps syncing; the merged-away id does not
    run(conn, f.property_change("1", "firstname", "Anne", at=3_000))
    run(conn, f.property_change("2", "firstname", "Robert", at=3_000))
    assert contact(conn, "1")["first_name"] == "Anne"
    assert contact(conn, "2")["first_name"] == "Bob"
    assert activity(conn, away["id"], "updated") == []


def test_merge_into_a_new_id_makes_the_primary_merged_away_too(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000), f.snapshot("2", {**ANN, "email": "ann2@acme.com"}, at=1_000))
    run(conn, f.merge("1", ["2"], at=2_000, new_id="3"))
    for hubspot_id in ("1", "2"):
        row = contact(conn, hubspot_id)
        assert (row["crm_status"], row["crm_merged_into_hubspot_id"]) == ("merged_in_crm", "3")
        assert row["merged_into_id"] is None
    run(conn, f.property_change("1", "firstname", "Late", at=3_000))
    assert contact(conn, "1")["first_name"] == "Ann"


def test_associations_of_a_merged_away_id_after_the_merge_are_ignored(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000), f.snapshot("2", {**ANN, "email": "a2@acme.com"}, at=1_000))
    run(conn, f.merge("1", ["2"], at=2_000))
    run(conn, f.snapshot("2", {**ANN, "email": "a2@acme.com"}, at=3_000, companies=["10"]))
    assert contact(conn, "2")["crm_status"] == "merged_in_crm"
    assert link_state(conn) == []


# ---- privacy deletion -----------------------------------------------------------------------------


def test_privacy_deletion_erases_personal_data_for_good(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", {**ANN, "hs_additional_emails": "ann@home.org"}, at=1_000))
    run(conn, f.property_change("1", "firstname", "Anne", at=1_500))
    rid = contact(conn, "1")["id"]
    gdpr = f.privacy_deletion("1", at=2_000)
    run(conn, gdpr)
    row = contact(conn, "1")
    assert row["id"] == rid
    assert (row["email"], row["first_name"], row["last_name"], row["name_normalized"]) == (None,) * 4
    assert row["properties"] == {} and row["property_versions"] == {}
    assert row["erased_at"] is not None
    assert one(conn, "SELECT count(*) FROM hubsync.contact_emails WHERE contact_id = %s", rid) == 0
    [kept] = activity(conn, rid, "privacy_deleted")
    assert kept["cause_event"] == gdpr["event_id"]
    earlier = [a for a in activity(conn, rid) if a["action"] != "privacy_deleted"]
    assert {a["action"] for a in earlier} >= {"created_from_hubspot", "updated"}
    assert all(a["before"] is None and a["after"] is None for a in earlier)
    assert "Ann" not in repr(activity(conn, rid)) and "ann@" not in repr(activity(conn, rid))

    logged = activity_count(conn)
    erased_at = row["erased_at"]
    run(conn, f.snapshot("1", ANN, at=9_000))
    run(conn, f.property_change("1", "email", "ann@acme.com", at=9_100))
    run(conn, f.restore("1", at=9_200))
    after = contact(conn, "1")
    assert (after["email"], after["first_name"], after["properties"], after["erased_at"]) == (
        None,
        None,
        {},
        erased_at,
    )
    assert after["crm_status"] == row["crm_status"]
    assert activity_count(conn) == logged
    assert one(conn, "SELECT count(*) FROM hubsync.contact_emails WHERE contact_id = %s", rid) == 0


def test_privacy_deletion_in_the_same_batch_as_the_snapshot_leaves_no_personal_data(
    conn: psycopg.Connection[Any],
) -> None:
    run(
        conn,
        f.snapshot("1", ANN, at=1_000),
        f.property_change("1", "lastname", "Li", at=1_500),
        f.privacy_deletion("1", at=2_000),
    )
    row = contact(conn, "1")
    assert (row["email"], row["first_name"], row["properties"]) == (None, None, {})
    assert row["erased_at"] is not None
    assert one(conn, "SELECT count(*) FROM hubsync.contact_emails") == 0
    logged = activity(conn, row["id"])
    assert {a["action"] for a in logged} >= {"created_from_hubspot", "privacy_deleted"}
    assert "ann@acme.com" not in repr(logged) and "Lee" not in repr(logged)


def test_association_change_for_an_erased_contact_changes_nothing(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000))
    run(conn, f.privacy_deletion("1", at=2_000))
    run(conn, f.association("1", "10", at=3_000))
    assert one(conn, "SELECT count(*) FROM hubsync.contact_account_links") == 0


def test_privacy_deletion_before_the_snapshot_keeps_an_erased_placeholder(
    conn: psycopg.Connection[Any],
) -> None:
    run(conn, f.privacy_deletion("1", at=2_000))
    placeholder = contact(conn, "1")
    assert placeholder["erased_at"] is not None and placeholder["email"] is None
    run(conn, f.snapshot("1", ANN, at=1_000, companies=["10"]))
    row = contact(conn, "1")
    assert row["id"] == placeholder["id"]
    assert (row["email"], row["first_name"], row["properties"]) == (None, None, {})
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 1
    assert one(conn, "SELECT count(*) FROM hubsync.contact_emails") == 0
    assert one(conn, "SELECT count(*) FROM hubsync.contact_account_links") == 0
    assert not any(a["after"] == ANN for a in activity(conn, row["id"]))


# ---- associations ---------------------------------------------------------------------------------


def test_snapshot_associations_create_placeholder_accounts_later_filled(
    conn: psycopg.Connection[Any],
) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000, companies=["10", "11"]))
    placeholder = account(conn, "10")
    assert placeholder["name"] is None
    links = rows(
        conn,
        "SELECT a.hubspot_id FROM hubsync.contact_account_links l JOIN hubsync.accounts a ON a.id = l.account_id"
        " WHERE l.contact_id = %s AND l.removed_at IS NULL ORDER BY 1",
        contact(conn, "1")["id"],
    )
    assert [r["hubspot_id"] for r in links] == ["10", "11"]
    run(conn, f.company_snapshot("10", {"name": "Acme", "domain": "acme.com"}, at=1_500))
    filled = account(conn, "10")
    assert filled["id"] == placeholder["id"]
    assert (filled["name"], filled["domain"], filled["domain_root"]) == ("Acme", "acme.com", "acme.com")
    assert filled["crm_status"] == "synced"
    assert one(conn, "SELECT count(*) FROM hubsync.accounts") == 2


def link_state(conn: psycopg.Connection[Any]) -> list[tuple[str, str, bool]]:
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT c.hubspot_id, a.hubspot_id, l.removed_at IS NULL FROM hubsync.contact_account_links l"
            " JOIN hubsync.contacts c ON c.id = l.contact_id JOIN hubsync.accounts a ON a.id = l.account_id"
            " ORDER BY 1, 2"
        )
    ]


def test_association_removal_wins_over_an_older_add(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.snapshot("1", ANN, at=1_000), f.company_snapshot("10", {"name": "Acme"}, at=1_000))
    run(conn, f.association("1", "10", at=2_000))
    assert link_state(conn) == [("1", "10", True)]
    run(conn, f.association("1", "10", at=3_000, removed=True))
    assert link_state(conn) == [("1", "10", False)]
    run(conn, f.association("1", "10", at=2_500))
    run(conn, f.association("1", "10", at=2_600, from_company=True))
    run(conn, f.snapshot("1", ANN, at=2_900, companies=["10"]))
    assert link_state(conn) == [("1", "10", False)]
    run(conn, f.association("1", "10", at=4_000))
    assert link_state(conn) == [("1", "10", True)]


# ---- potential duplicates -------------------------------------------------------------------------


@pytest.mark.parametrize("same_batch", [False, True])
def test_contacts_sharing_a_normalized_email_are_flagged_once(
    conn: psycopg.Connection[Any], same_batch: bool
) -> None:
    events = [
        f.snapshot("1", {"email": "Ann@ACME.com", "firstname": "Ann", "lastname": "Lee"}, at=1_000),
        f.snapshot("2", {"email": "ann+crm@acme.com", "firstname": "Anna", "lastname": "Lees"}, at=1_000),
        f.snapshot(
            "3",
            {"email": "al@other.org", "hs_additional_emails": "x@y.org;ANN@acme.com", "firstname": "A"},
            at=1_000,
        ),
    ]
    if same_batch:
        run(conn, *events)
    else:
        for event in events:
            run(conn, event)
    expected = {
        ("contact", "1", "2", "email"),
        ("contact", "1", "3", "email"),
        ("contact", "2", "3", "email"),
    }
    assert pairs(conn) == expected
    for event in events:  # redelivered
        run(conn, event)
    run(conn, *events)
    assert pairs(conn) == expected
    assert one(conn, "SELECT count(*) FROM hubsync.potential_duplicates") == 3
    for hubspot_id in ("1", "2", "3"):
        row = contact(conn, hubspot_id)
        flagged = activity(conn, row["id"], "flagged_duplicate")
        assert len(flagged) == 2
        assert row["crm_status"] == "synced" and row["merged_into_id"] is None
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 3


def test_hubspot_contact_duplicating_a_platform_contact_is_flagged(conn: psycopg.Connection[Any]) -> None:
    platform_id = insert_platform_contact(conn, "ann@acme.com", first_name="Ann")
    run(conn, f.snapshot("1", {"email": "ANN+hs@acme.com", "firstname": "Annie"}, at=1_000))
    hs = contact(conn, "1")
    assert hs["id"] != platform_id
    assert pairs(conn) == {("contact", None, "1", "email")}
    [flagged] = activity(conn, platform_id, "flagged_duplicate")
    assert flagged["detail"]["duplicate_of"] == hs["id"]
    assert len(activity(conn, hs["id"], "flagged_duplicate")) == 1
    platform = rows(conn, "SELECT * FROM hubsync.contacts WHERE id = %s", platform_id)[0]
    assert platform["hubspot_id"] is None and platform["creation_source"] == "platform"


def test_companies_sharing_a_root_domain_are_flagged(conn: psycopg.Connection[Any]) -> None:
    run(conn, f.company_snapshot("10", {"name": "Acme UK", "domain": "www.acme.co.uk"}, at=1_000))
    run(conn, f.company_snapshot("11", {"name": "Acme Holdings", "domain": "acme.co.uk"}, at=1_000))
    run(conn, f.company_snapshot("12", {"name": "Other", "domain": "other.co.uk"}, at=1_000))
    assert pairs(conn) == {("account", "10", "11", "domain")}
    assert len(activity(conn, account(conn, "10")["id"], "flagged_duplicate")) == 1


def test_same_name_and_company_is_the_weaker_signal(conn: psycopg.Connection[Any]) -> None:
    run(
        conn,
        f.snapshot(
            "1",
            {"email": "jd@acme.com", "firstname": "John", "lastname": "Doe", "company": "Acme Inc."},
            at=1,
        ),
        f.snapshot(
            "2", {"email": "john@home.org", "firstname": "JOHN", "lastname": "Doe", "company": "ACME"}, at=1
        ),
        # same name, free mailbox provider, other company: no signal
        f.snapshot(
            "3", {"email": "jdoe@gmail.com", "firstname": "John", "lastname": "Doe", "company": "Zeta"}, at=1
        ),
        # same name and the same e-mail domain as 1
        f.snapshot("4", {"email": "john.doe@acme.com", "firstname": "John", "lastname": "Doe"}, at=1),
        f.company_snapshot("10", {"name": "Globex GmbH", "domain": "globex.de"}, at=1),
        f.company_snapshot("11", {"name": "Globex Inc", "domain": "globex.com"}, at=1),
    )
    assert pairs(conn) == {
        ("contact", "1", "2", "name_company"),
        ("contact", "1", "4", "name_company"),
        ("account", "10", "11", "name_company"),
    }


# ---- a HubSpot record created by the platform -----------------------------------------------------


def test_hubsync_record_id_links_the_platform_record(conn: psycopg.Connection[Any]) -> None:
    platform_id = insert_platform_contact(conn, "ann@acme.com", first_name="Ann")
    run(conn, f.snapshot("1", {**ANN, "hubsync_record_id": str(platform_id)}, at=1_000))
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 1
    row = contact(conn, "1")
    assert row["id"] == platform_id
    assert row["crm_status"] == "synced" and row["creation_source"] == "platform"
    assert row["properties"]["firstname"] == "Ann" and row["last_name"] == "Lee"
    [linked] = activity(conn, platform_id, "linked_to_hubspot")
    assert linked["detail"]["hubspot_id"] == "1"
    assert pairs(conn) == set()
    run(conn, f.snapshot("1", {**ANN, "hubsync_record_id": str(platform_id)}, at=1_000))
    assert one(conn, "SELECT count(*) FROM hubsync.contacts") == 1
    assert len(activity(conn, platform_id, "linked_to_hubspot")) == 1


def test_a_mirror_made_before_the_link_arrived_is_folded_into_the_platform_record(
    conn: psycopg.Connection[Any],
) -> None:
    """The push agent's upsert created HubSpot record 1 for platform record R but died before
    storing the link; HubSpot's bare creation webhook came first and was mirrored as a new
    record X. When ``hubsync_record_id`` = R arrives for record 1, X is the mirror of R's own
    HubSpot record: R takes the HubSpot id and X is merged into R (found by the fault suite)."""
    platform_id = insert_platform_contact(conn, "ann@acme.com", first_name="Ann")
    run(conn, f.creation("1", {}, at=1_000))
    stray = contact(conn, "1")["id"]
    assert stray != platform_id
    result = run(
        conn,
        f.property_change("1", "email", "ann@acme.com", at=1_000),
        f.property_change("1", "hubsync_record_id", str(platform_id), at=1_000),
    )
    assert contact(conn, "1")["id"] == platform_id and contact(conn, "1")["crm_status"] == "synced"
    folded = rows(
        conn, "SELECT hubspot_id, crm_status, merged_into_id FROM hubsync.contacts WHERE id = %s", stray
    )
    assert folded == [{"hubspot_id": None, "crm_status": "merged_in_platform", "merged_into_id": platform_id}]
    assert {stray, platform_id} <= result.touched["contact"]  # both canonical records republished
    assert pairs(conn) == set()
    [linked] = activity(conn, platform_id, "linked_to_hubspot")
    assert linked["detail"] == {"hubspot_id": "1", "folded_mirror": stray}
    assert [a["detail"]["merged_into"] for a in activity(conn, stray, "merged_in_platform")] == [platform_id]
    # later events for record 1 keep going to the platform record
    run(conn, f.property_change("1", "firstname", "Annie", at=2_000))
    assert contact(conn, "1")["id"] == platform_id and contact(conn, "1")["first_name"] == "Annie"


# ---- prospects ------------------------------------------------------------------------------------


def test_mirrored_records_leave_the_net_new_prospects(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root)"
        " VALUES ('Acme', 'acme.co.uk', 'acme.co.uk'), ('Beta', 'beta.io', 'beta.io')"
    )
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, first_name)"
        " VALUES ('ann@acme.co.uk', 'Ann'), ('bob@beta.io', 'Bob')"
    )
    conn.commit()
    assert len(net_new_people(conn)) == 2
    run(
        conn,
        f.snapshot("1", {"email": "Ann+x@ACME.co.uk", "firstname": "Ann"}, at=1_000),
        f.company_snapshot("10", {"name": "Acme", "domain": "www.acme.co.uk"}, at=1_000),
    )
    [person] = rows(conn, "SELECT * FROM hubsync.prospect_people WHERE email_normalized = 'ann@acme.co.uk'")
    assert person["in_crm"] and person["matched_contact_id"] == contact(conn, "1")["id"]
    [org] = rows(conn, "SELECT * FROM hubsync.prospect_organizations WHERE domain_root = 'acme.co.uk'")
    assert org["in_crm"] and org["matched_account_id"] == account(conn, "10")["id"]
    assert [p["email"] for p in net_new_people(conn)] == ["bob@beta.io"]
    assert [o["domain_root"] for o in net_new_organizations(conn)] == ["beta.io"]


def test_deleted_in_hubspot_puts_the_prospect_back_and_restore_takes_it_out(
    conn: psycopg.Connection[Any],
) -> None:
    """prospects.py: in the CRM while a linked contact is not deleted there; a deletion in HubSpot
    puts the prospect back among the net-new ones."""
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, first_name) VALUES ('ann@acme.com', 'A')"
    )
    conn.commit()
    run(conn, f.snapshot("1", ANN, at=1_000))
    assert net_new_people(conn) == []
    run(conn, f.deletion("1", at=2_000))
    assert [p["email"] for p in net_new_people(conn)] == ["ann@acme.com"]
    run(conn, f.restore("1", at=3_000))
    assert net_new_people(conn) == []


# ---- field mapping: autofill / overwrite on pull ---------------------------------------------------


def add_person(conn: psycopg.Connection[Any], email: str, **attributes: Any) -> None:
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, first_name, attributes) VALUES (%s, 'P', %s)",
        (email, psycopg.types.json.Jsonb(attributes)),
    )
    conn.commit()


def add_organization(conn: psycopg.Connection[Any], domain: str, **attributes: Any) -> None:
    conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)"
        " VALUES ('Org', %s, %s, %s)",
        (domain, domain, psycopg.types.json.Jsonb(attributes)),
    )
    conn.commit()


PERSON = {"jobtitle": "CTO", "phone": "+1 555 0100", "city": "Boston"}
HS_FILLED = {**ANN, "phone": "+44 20 0000", "city": "London"}


def test_empty_hubspot_field_is_autofilled_once_and_the_echo_quiesces(conn: psycopg.Connection[Any]) -> None:
    add_person(conn, "ann@acme.com", **PERSON)
    snap = f.snapshot("1", {**HS_FILLED, "jobtitle": ""}, at=1_000)
    result = run(conn, snap)
    assert result.autofills == 1 and result.outbox_events == 1
    row = contact(conn, "1")
    assert row["properties"]["jobtitle"] == "CTO"
    assert row["property_versions"]["jobtitle"]["rule"] == "autofill"
    assert row["properties"]["city"] == "London"  # not empty: not autofilled
    [filled] = activity(conn, row["id"], "autofilled")
    assert (filled["field"], filled["before"], filled["after"], filled["rule"]) == (
        "jobtitle",
        None,
        "CTO",
        "autofill",
    )
    assert filled["cause_event"] == snap["event_id"]
    [out] = outbox(conn)
    assert (out["aggregatetype"], out["aggregateid"], out["type"]) == (
        "contact",
        str(row["id"]),
        "MAPPED_VALUES",
    )
    assert out["payload"]["changed_fields"] == {"jobtitle": "CTO"}
    assert out["payload"]["field_rules"] == {"jobtitle": "autofill"}
    assert out["payload"]["hubspot_id"] == "1"
    assert out["payload"]["cause_event"] == snap["event_id"]

    run(conn, snap)  # redelivered
    assert len(outbox(conn)) == 1
    echo_at = int(time.time() * 1000) + 60_000
    run(
        conn,
        f.property_change("1", "jobtitle", "CTO", at=echo_at, change_source="INTEGRATION", source_id="app"),
    )
    run(
        conn,
        f.snapshot(
            "1", {**HS_FILLED, "jobtitle": "CTO"}, at=echo_at + 1, property_timestamps={"jobtitle": echo_at}
        ),
    )
    assert len(outbox(conn)) == 1
    assert len(activity(conn, row["id"], "autofilled")) == 1
    assert contact(conn, "1")["properties"]["jobtitle"] == "CTO"


def test_redelivered_snapshot_after_autofill_logs_nothing_new(conn: psycopg.Connection[Any]) -> None:
    add_person(conn, "ann@acme.com", **PERSON)
    snap = f.snapshot("1", {**HS_FILLED, "jobtitle": None}, at=1_000)
    run(conn, snap)
    logged = activity_count(conn)
    run(conn, snap)
    run(conn, snap)
    assert activity_count(conn) == logged, activity(conn, contact(conn, "1")["id"])


def test_non_empty_hubspot_field_is_not_autofilled(conn: psycopg.Connection[Any]) -> None:
    add_person(conn, "ann@acme.com", **PERSON)
    result = run(conn, f.snapshot("1", {**HS_FILLED, "jobtitle": "CEO"}, at=1_000))
    assert result.autofills == 0
    row = contact(conn, "1")
    assert row["properties"]["jobtitle"] == "CEO"
    assert activity(conn, row["id"], "autofilled") == []
    assert outbox(conn) == []


def test_an_autofilled_matching_property_gives_the_record_its_new_keys(conn: psycopg.Connection[Any]) -> None:
    """Autofill fills a contact's empty company: the company key stored, and duplicate detection, are
    the filled value's, not the keys the record had before autofill ran."""
    conn.execute("UPDATE hubsync.field_mappings SET mode = 'autofill' WHERE hubspot_property = 'company'")
    conn.commit()
    add_person(conn, "ann@acme.com", company="Initech")
    run(
        conn,
        f.snapshot(
            "2",
            {"email": "a.lee@other.example", "firstname": "Ann", "lastname": "Lee", "company": "Initech"},
            at=900,
        ),
    )
    result = run(conn, f.snapshot("1", {**ANN, "company": ""}, at=1_000))
    assert result.autofills == 1
    row = contact(conn, "1")
    assert (row["properties"]["company"], row["company_name_key"]) == ("Initech", "initech")
    assert pairs(conn) == {("contact", "1", "2", "name_company")}


COMPANY = {"name": "Acme", "domain": "acme.com", "industry": "COMPUTER_SOFTWARE", "city": "X", "phone": "1"}


def test_overwrite_replaces_a_differing_hubspot_value(conn: psycopg.Connection[Any]) -> None:
    add_organization(conn, "acme.com", numberofemployees=200, industry="FINANCIAL_SERVICES")
    snap = f.company_snapshot("10", {**COMPANY, "numberofemployees": "50"}, at=1_000)
    result = run(conn, snap)
    assert result.overwrites == 1
    row = account(conn, "10")
    assert row["properties"]["numberofemployees"] == "200"
    assert row["properties"]["industry"] == "COMPUTER_SOFTWARE"  # autofill: not empty, kept
    [done] = activity(conn, row["id"], "overwritten")
    assert (done["field"], done["before"], done["after"], done["rule"]) == (
        "numberofemployees",
        "50",
        "200",
        "overwrite",
    )
    [out] = outbox(conn)
    assert (out["aggregatetype"], out["type"]) == ("account", "MAPPED_VALUES")
    assert out["payload"]["changed_fields"] == {"numberofemployees": "200"}
    assert out["payload"]["field_rules"] == {"numberofemployees": "overwrite"}
    echo_at = int(time.time() * 1000) + 60_000
    run(conn, f.property_change("10", "numberofemployees", "200", at=echo_at, object_type="COMPANY"))
    run(conn, snap)
    assert len(outbox(conn)) == 1
    assert len(activity(conn, row["id"], "overwritten")) == 1


def test_invalid_prospect_value_is_rejected_not_pushed(conn: psycopg.Connection[Any]) -> None:
    add_organization(conn, "acme.com", industry="NOT_AN_INDUSTRY")
    result = run(conn, f.company_snapshot("10", {**COMPANY, "industry": ""}, at=1_000))
    assert result.rejected_values == 1
    row = account(conn, "10")
    assert row["properties"]["industry"] is None
    [rejected] = activity(conn, row["id"], "value_rejected")
    assert (rejected["field"], rejected["after"], rejected["rule"]) == (
        "industry",
        "NOT_AN_INDUSTRY",
        "autofill",
    )
    assert rejected["detail"]["reason"]
    assert outbox(conn) == []


def test_a_value_set_by_hand_is_not_overwritten_by_a_later_pull(conn: psycopg.Connection[Any]) -> None:
    """Manual actions take precedence: overwrite leaves a manually enriched field alone."""
    from hubsync.platform import enrich_record

    conn.execute("UPDATE hubsync.field_mappings SET mode = 'overwrite' WHERE hubspot_property = 'jobtitle'")
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, attributes) VALUES ('ann@acme.com', %s)",
        (psycopg.types.json.Jsonb({"jobtitle": "CTO"}),),
    )
    conn.commit()
    run(conn, f.snapshot("1", {**ANN, "jobtitle": "CTO"}, at=1_000))
    rid = contact(conn, "1")["id"]
    enrich_record(conn, rid, "jobtitle", "Chief Scientist")
    conn.commit()
    run(conn, f.property_change("1", "firstname", "Annie", at=int(time.time() * 1000)))
    assert contact(conn, "1")["properties"]["jobtitle"] == "Chief Scientist"
    assert activity(conn, rid, "overwritten") == []
