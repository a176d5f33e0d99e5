"""Potential-duplicate flagging against a real PostgreSQL: every signal, idempotence, exclusions,
and two workers committing the same key at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from hubsync.matching.duplicates import (
    _ACCOUNT_PAIRS,
    _CONTACT_PAIRS,
    DuplicatePair,
    _given_keys,
    duplicates_of,
    flag_duplicates,
    open_duplicates,
)
from hubsync.matching.record_keys import AccountKeys, ContactKeys
from hubsync.storage.migrate import migrate
from hubsync.testing import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def db(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    return fresh_database_url


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db) as connection:
        yield connection


def add_contact(
    conn: psycopg.Connection[Any],
    *emails: str,
    name: str | None = None,
    company: str | None = None,
    domain: str | None = None,
    source: str = "hubspot",
    hubspot_id: str | None = None,
    crm_status: str = "synced",
    merged_into: int | None = None,
    erased: bool = False,
) -> int:
    """A contact row with its keys as the ingest agent stores them (first e-mail = primary)."""
    row = conn.execute(
        """
        INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id, email, name_normalized,
                                      company_name_key, company_domain_root, merged_into_id, erased_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id
        """,
        (
            source,
            crm_status,
            hubspot_id,
            emails[0] if emails else None,
            name,
            company,
            domain,
            merged_into,
            erased,
        ),
    ).fetchone()
    assert row is not None
    for i, email in enumerate(emails):
        conn.execute(
            "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, %s, %s)",
            (row[0], email, i == 0),
        )
    return int(row[0])


def add_account(
    conn: psycopg.Connection[Any],
    *,
    domain: str | None = None,
    name: str | None = None,
    source: str = "hubspot",
    merged_into: int | None = None,
) -> int:
    row = conn.execute(
        """
        INSERT INTO hubsync.accounts (creation_source, name, domain, domain_root, name_normalized, merged_into_id)
        VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (source, name, domain, domain, name, merged_into),
    ).fetchone()
    assert row is not None
    return int(row[0])


def stored_pairs(conn: psycopg.Connection[Any]) -> list[tuple[str, int, int, str]]:
    rows = conn.execute(
        "SELECT object_type, record_a, record_b, signal FROM hubsync.potential_duplicates ORDER BY 1, 2, 3, 4"
    ).fetchall()
    return [(str(t), int(a), int(b), str(s)) for t, a, b, s in rows]


def flagged_activity(
    conn: psycopg.Connection[Any],
) -> list[tuple[int, dict[str, Any], str | None, str | None]]:
    rows = conn.execute(
        """
        SELECT record_id, detail, cause_source, cause_event FROM hubsync.activity_log
         WHERE action = 'flagged_duplicate' ORDER BY record_id, detail->>'duplicate_of', detail->>'signal'
        """
    ).fetchall()
    return [(int(r), d, s, e) for r, d, s, e in rows]


def pair(a: int, b: int, signal: str, object_type: str = "contact") -> DuplicatePair:
    return DuplicatePair(object_type, min(a, b), max(a, b), signal)  # type: ignore[arg-type]


def flag(
    conn: psycopg.Connection[Any], ids: Sequence[int], object_type: str = "contact"
) -> list[DuplicatePair]:
    return flag_duplicates(conn, object_type, ids)  # type: ignore[arg-type]


# ---- contacts: e-mail ------------------------------------------------------------------------------


def test_same_email_is_flagged_with_activity_on_both_records(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com")
    second = add_contact(conn, "jane@acme.com")
    found = flag_duplicates(conn, "contact", [second], cause_source="hubspot", cause_event="evt-1")
    assert found == [pair(first, second, "email")]
    assert stored_pairs(conn) == [("contact", first, second, "email")]
    assert flagged_activity(conn) == [
        (first, {"duplicate_of": second, "signal": "email"}, "hubspot", "evt-1"),
        (second, {"duplicate_of": first, "signal": "email"}, "hubspot", "evt-1"),
    ]


def test_additional_emails_count(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com", "jane.doe@old-job.com")
    second = add_contact(conn, "jd@new-job.com", "jane.doe@old-job.com")
    assert flag(conn, [first]) == [pair(first, second, "email")]


def test_different_emails_are_not_duplicates(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com")
    add_contact(conn, "john@acme.com")
    add_contact(conn, "jane@acme.io")
    assert flag(conn, [first]) == []
    assert stored_pairs(conn) == []


# ---- contacts: name + company ----------------------------------------------------------------------


def test_same_name_and_company_name(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@gmail.com", name="jane doe", company="acme")
    second = add_contact(conn, "jdoe@yahoo.com", name="jane doe", company="acme")
    assert flag(conn, [second]) == [pair(first, second, "name_company")]


def test_same_name_and_company_domain(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com", name="jane doe", domain="acme.com")
    second = add_contact(conn, "j.doe@eu.acme.com", name="jane doe", company="acme", domain="acme.com")
    assert flag(conn, [first]) == [pair(first, second, "name_company")]


def test_name_company_negatives(conn: psycopg.Connection[Any]) -> None:
    subject = add_contact(conn, "jane@acme.com", name="jane doe", company="acme", domain="acme.com")
    add_contact(conn, "john@acme.com", name="john doe", company="acme", domain="acme.com")  # another person
    # another company
    add_contact(conn, "jane@other.com", name="jane doe", company="other", domain="other.com")
    add_contact(conn, "jane@x.com", name="jane doe")  # no company at all
    add_contact(conn, "x@acme.com", company="acme", domain="acme.com")  # no name
    assert flag(conn, [subject]) == []


def test_a_freemail_domain_gives_no_name_company_signal(conn: psycopg.Connection[Any]) -> None:
    # contact_keys never stores a freemail company domain; rows written otherwise are still ignored
    first = add_contact(conn, "jane.doe@gmail.com", name="jane doe", domain="gmail.com")
    second = add_contact(conn, "janedoe1@gmail.com", name="jane doe", domain="gmail.com")
    assert flag(conn, [first, second]) == []


# ---- accounts ------------------------------------------------------------------------------------


def test_accounts_same_domain_and_same_name(conn: psycopg.Connection[Any]) -> None:
    acme = add_account(conn, domain="acme.com", name="acme")
    acme_again = add_account(conn, domain="acme.com", name="acme")
    acme_uk = add_account(conn, domain="acme.co.uk", name="acme")
    add_account(conn, domain="other.com", name="other")
    add_account(conn)  # no keys at all
    found = flag(conn, [acme_uk, acme_again], "account")
    assert found == sorted(
        [
            pair(acme, acme_again, "domain", "account"),
            pair(acme, acme_again, "name_company", "account"),
            pair(acme, acme_uk, "name_company", "account"),
            pair(acme_again, acme_uk, "name_company", "account"),
        ]
    )
    assert len(stored_pairs(conn)) == 4


def test_accounts_negative(conn: psycopg.Connection[Any]) -> None:
    subject = add_account(conn, domain="acme.com", name="acme")
    add_account(conn, domain="acme.io", name="acme labs")
    assert flag(conn, [subject], "account") == []


def test_contacts_and_accounts_do_not_pair_with_each_other(conn: psycopg.Connection[Any]) -> None:
    account = add_account(conn, domain="acme.com", name="acme")
    contact = add_contact(conn, "x@acme.com", name="acme", domain="acme.com")
    assert flag(conn, [account], "account") == []
    assert flag(conn, [contact]) == []


# ---- storage, idempotence, scope ----------------------------------------------------------------


def test_pair_is_stored_once_and_activity_only_for_new_pairs(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com")
    second = add_contact(conn, "jane@acme.com")
    assert flag(conn, [second, first, second]) == [pair(first, second, "email")]
    # repeats, from either side, change nothing
    assert flag(conn, [first]) == []
    assert flag(conn, [second]) == []
    assert stored_pairs(conn) == [("contact", first, second, "email")]
    assert len(flagged_activity(conn)) == 2
    # a third record: only its own two pairs are new
    third = add_contact(conn, "jane@acme.com")
    assert flag(conn, [first, second, third]) == [pair(first, third, "email"), pair(second, third, "email")]
    assert len(stored_pairs(conn)) == 3
    assert len(flagged_activity(conn)) == 6


def test_two_signals_make_two_rows(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com", name="jane doe", domain="acme.com")
    second = add_contact(conn, "jane@acme.com", name="jane doe", domain="acme.com")
    assert flag(conn, [second]) == [pair(first, second, "email"), pair(first, second, "name_company")]
    assert duplicates_of(conn, "contact", first) == [(second, "email"), (second, "name_company")]


def test_a_resolved_pair_is_not_flagged_again(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com")
    second = add_contact(conn, "jane@acme.com")
    flag(conn, [second])
    conn.execute("UPDATE hubsync.potential_duplicates SET resolved_at = now()")
    assert flag(conn, [first, second]) == []
    assert duplicates_of(conn, "contact", first) == []
    assert open_duplicates(conn) == []


def test_platform_created_and_hubspot_created_records_pair(conn: psycopg.Connection[Any]) -> None:
    mirrored = add_contact(conn, "jane@acme.com", hubspot_id="101", source="hubspot")
    created_here = add_contact(conn, "jane@acme.com", source="platform", crm_status="not_linked")
    deleted_in_crm = add_contact(conn, "jane@acme.com", hubspot_id="102", crm_status="deleted_in_crm")
    assert flag(conn, [created_here]) == [
        pair(mirrored, created_here, "email"),
        pair(created_here, deleted_in_crm, "email"),
    ]


def test_merged_away_and_erased_records_are_excluded(conn: psycopg.Connection[Any]) -> None:
    survivor = add_contact(conn, "jane@acme.com")
    merged = add_contact(conn, "jane@acme.com", merged_into=survivor)
    erased = add_contact(conn, "jane@acme.com", erased=True)
    assert flag(conn, [survivor]) == []
    assert flag(conn, [merged, erased]) == []  # nor are they flagged themselves
    newcomer = add_contact(conn, "jane@acme.com")
    assert flag(conn, [newcomer]) == [pair(survivor, newcomer, "email")]

    acme = add_account(conn, domain="acme.com", name="acme")
    merged_account = add_account(conn, domain="acme.com", name="acme", merged_into=acme)
    assert flag(conn, [acme, merged_account], "account") == []


def test_empty_and_unknown_ids(conn: psycopg.Connection[Any]) -> None:
    assert flag(conn, []) == []
    assert flag(conn, [987654]) == []
    with pytest.raises(ValueError, match="object type"):
        flag_duplicates(conn, "deal", [1])  # type: ignore[arg-type]


def test_a_batch_is_set_based(conn: psycopg.Connection[Any]) -> None:
    """Thousands of records in one call: pairs within the batch and with older records."""
    old = [add_contact(conn, f"p{i}@acme.com") for i in range(0, 1000, 2)]
    batch = [add_contact(conn, f"p{i}@acme.com") for i in range(1000)]
    found = flag(conn, batch)
    assert len(found) == 500
    assert {p.record_a for p in found} == set(old)
    assert len(flagged_activity(conn)) == 1000


def test_needs_a_read_committed_transaction(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as auto:
        with pytest.raises(ValueError, match="inside the transaction"):
            flag(auto, [1])
        with auto.transaction():
            assert flag(auto, [1]) == []
    with psycopg.connect(db) as snapshot:
        snapshot.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(ValueError, match="READ COMMITTED"):
            flag(snapshot, [1])


# ---- reading ------------------------------------------------------------------------------------


def test_duplicates_of_and_open_duplicates(conn: psycopg.Connection[Any]) -> None:
    first = add_contact(conn, "jane@acme.com", hubspot_id="7", name="jane doe")
    second = add_contact(conn, "jane@acme.com", source="platform", crm_status="not_linked")
    acme = add_account(conn, domain="acme.com", name="acme")
    acme_again = add_account(conn, domain="acme.com", name="acme co")
    flag(conn, [second])
    flag(conn, [acme_again], "account")
    assert duplicates_of(conn, "contact", second) == [(first, "email")]
    assert duplicates_of(conn, "account", acme) == [(acme_again, "domain")]
    assert duplicates_of(conn, "account", first) == []

    rows = open_duplicates(conn, "contact", 10)
    assert len(rows) == 1
    row = rows[0]
    assert (row["object_type"], row["signal"]) == ("contact", "email")
    assert row["record_a"]["id"] == first and row["record_b"]["id"] == second
    assert row["record_a"]["hubspot_id"] == "7" and row["record_a"]["creation_source"] == "hubspot"
    assert row["record_b"]["creation_source"] == "platform" and row["record_b"]["email"] == "jane@acme.com"

    accounts = open_duplicates(conn, "account", 10)
    assert [(r["record_a"]["domain"], r["record_b"]["name"]) for r in accounts] == [("acme.com", "acme co")]
    assert len(open_duplicates(conn, None, 10)) == 2
    assert len(open_duplicates(conn, None, 1)) == 1


# ---- concurrency --------------------------------------------------------------------------------


def _wait_for_advisory_lock_wait(db: str, pid: int, timeout: float = 20.0) -> None:
    with psycopg.connect(db, autocommit=True) as observer:

        def waiting() -> bool:
            row = observer.execute(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            return row == ("Lock", "advisory")

        wait_for(waiting, timeout=timeout, interval=0.02, what=f"backend {pid} to wait for an advisory lock")


def test_concurrent_writers_of_one_email_still_flag_the_pair(db: str) -> None:
    """T1 inserts and flags (taking the key's lock); T2 inserts and flags, and blocks on the lock
    until T1 commits; its query then sees T1's row. Exactly one pair results."""
    with psycopg.connect(db) as t1, psycopg.connect(db) as t2:
        first = add_contact(t1, "shared@acme.com")
        assert flag(t1, [first]) == []  # T2's row does not exist yet

        second = add_contact(t2, "shared@acme.com")
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(flag, t2, [second])
            _wait_for_advisory_lock_wait(db, t2.info.backend_pid)
            assert not pending.done()
            t1.commit()
            found = pending.result(timeout=20)
        t2.commit()
        assert found == [pair(first, second, "email")]

    with psycopg.connect(db) as check:
        assert stored_pairs(check) == [("contact", first, second, "email")]
        assert len(flagged_activity(check)) == 2


def test_crossing_batches_do_not_deadlock(db: str) -> None:
    """Two batches sharing two keys in opposite order: locks are taken in sorted order, so both
    finish and every pair is flagged whatever the interleaving."""
    barrier = threading.Barrier(2)

    def worker(emails: list[str]) -> list[int]:
        with psycopg.connect(db) as conn:
            ids = [add_contact(conn, email) for email in emails]
            barrier.wait(timeout=20)
            flag(conn, ids)
            conn.commit()
            return ids

    with ThreadPoolExecutor(max_workers=2) as pool:
        left = pool.submit(worker, [f"k{i}@acme.com" for i in range(50)])
        right = pool.submit(worker, [f"k{i}@acme.com" for i in reversed(range(50))])
        left_ids, right_ids = left.result(timeout=60), right.result(timeout=60)

    with psycopg.connect(db) as check:
        pairs = stored_pairs(check)
    expected = sorted(
        ("contact", min(a, b), max(a, b), "email") for a, b in zip(left_ids, reversed(right_ids), strict=True)
    )
    assert pairs == expected


def advisory_locks_held(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_large_batch_locks_the_object_type_instead_of_every_key(conn: psycopg.Connection[Any]) -> None:
    small = [add_contact(conn, f"s{i}@acme.com") for i in range(20)]
    flag(conn, small)
    assert advisory_locks_held(conn) == 21  # the object type (shared) and one per key
    conn.commit()

    old = add_contact(conn, "b0@acme.com")
    large = [add_contact(conn, f"b{i}@acme.com") for i in range(20)]
    assert flag_duplicates(conn, "contact", large, max_key_locks=10) == [pair(old, large[0], "email")]
    assert advisory_locks_held(conn) == 1  # the object type, exclusively
    conn.commit()
    assert advisory_locks_held(conn) == 0


def test_an_exclusive_batch_holds_off_a_concurrent_small_one(db: str) -> None:
    """T1 flags a large batch (object-type lock, exclusive); T2's small batch waits for T1's commit
    and then sees its rows, as with key locks."""
    with psycopg.connect(db) as t1, psycopg.connect(db) as t2:
        first = add_contact(t1, "shared@acme.com")
        assert flag_duplicates(t1, "contact", [first], max_key_locks=0) == []

        second = add_contact(t2, "shared@acme.com")
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(flag, t2, [second])
            _wait_for_advisory_lock_wait(db, t2.info.backend_pid)
            t1.commit()
            found = pending.result(timeout=20)
        t2.commit()
        assert found == [pair(first, second, "email")]


def test_the_name_company_lookups_are_exact_index_lookups(conn: psycopg.Connection[Any]) -> None:
    """A name matched by many contacts at other companies is looked up by name and company
    together (migration 0012): the cost of the name_company signal does not grow with the table.
    The company domain has one index, for detection's lookup and the console's search alike (0017)."""
    portal = conn.execute("SELECT hubsync.current_portal()").fetchone()
    assert portal is not None
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY hubsync.contacts_all (portal_id, creation_source, name_normalized, company_name_key,"
            " company_domain_root) FROM STDIN"
        ) as copy,
    ):
        for i in range(20_000):
            # 400 contacts per name, 500 per company, 10 per name and company
            company = (i // 50) % 40
            copy.write_row(
                (portal[0], "platform", f"name {i % 50}", f"company {company}", f"d{company}.example")
            )
    conn.execute("ANALYZE hubsync.contacts_all")
    for column in ("company_name_key", "company_domain_root"):
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                f"EXPLAIN SELECT id FROM hubsync.contacts WHERE name_normalized = 'name 7' AND {column} = %s",
                ("company 7" if column == "company_name_key" else "d7.example",),
            )
        )
        index = (
            "contacts_name_company_key_idx" if column == "company_name_key" else "contacts_domain_name_idx"
        )
        assert index in plan, plan
    # the console's search by company domain alone reads the same index's prefix (migration 0017)
    plan = "\n".join(
        row[0]
        for row in conn.execute(
            "EXPLAIN SELECT id FROM hubsync.contacts WHERE company_domain_root = %s", ("d7.example",)
        )
    )
    assert "contacts_domain_name_idx" in plan, plan
    indexes = conn.execute(
        "SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes"
        " WHERE schemaname = 'hubsync' AND tablename = 'contacts_all' AND indexdef LIKE '%company_domain_root%'"
    ).fetchone()
    assert indexes == (["contacts_domain_name_idx"],), "one index of the company domain, no more"


def _plan(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> str:
    return "\n".join(str(row[0]) for row in conn.execute("EXPLAIN " + statement, params))


def test_a_batch_s_keys_are_looked_up_one_by_one_whatever_the_table_s_size(
    conn: psycopg.Connection[Any],
) -> None:
    """Each key of the batch is an index lookup (``LATERAL ... OFFSET 0``): as joins, a batch of
    2,000 over a few thousand records hashed the whole contacts and e-mail tables, a cost that grew
    with the tables (docs/performance.md, session 18)."""
    portal = conn.execute("SELECT hubsync.current_portal()").fetchone()
    assert portal is not None
    conn.execute(
        "INSERT INTO hubsync.contacts_all (portal_id, creation_source, name_normalized, company_name_key,"
        " company_domain_root) SELECT %s, 'hubspot', 'name ' || g, 'company ' || (g %% 500),"
        " 'd' || (g %% 500) || '.example' FROM generate_series(1, 4000) g",
        portal,
    )
    conn.execute(
        "INSERT INTO hubsync.contact_emails_all (portal_id, contact_id, email_normalized, is_primary)"
        " SELECT portal_id, id, 'p' || id || '@d.example', true FROM hubsync.contacts_all"
    )
    conn.execute(
        "INSERT INTO hubsync.accounts_all (portal_id, creation_source, name_normalized, domain_root)"
        " SELECT %s, 'hubspot', 'company ' || g, 'a' || g || '.example' FROM generate_series(1, 4000) g",
        portal,
    )
    conn.execute("ANALYZE hubsync.contacts_all, hubsync.contact_emails_all, hubsync.accounts_all")
    stored = [r for (r,) in conn.execute("SELECT id FROM hubsync.contacts ORDER BY id LIMIT 200")]
    new = {
        10_000_000 + i: contact_keys_of(f"n{i}@x.example", name=f"name {i}", company=f"company {i % 500}")
        for i in range(2_000)
    }
    contacts = _plan(
        conn, _CONTACT_PAIRS, {"ids": stored, "freemail": ["gmail.com"], **_given_keys("contact", new)}
    )
    accounts = _plan(
        conn,
        _ACCOUNT_PAIRS,
        {
            "ids": [],
            **_given_keys(
                "account",
                {10_000_000 + i: AccountKeys(f"a{i}.example", f"company {i}") for i in range(2_000)},
            ),
        },
    )
    for plan, table in (
        (contacts, "contacts_all"),
        (contacts, "contact_emails_all"),
        (accounts, "accounts_all"),
    ):
        lines = plan.splitlines()
        scans = [i for i, line in enumerate(lines) if f" on {table}" in line]
        assert scans, plan  # the table is read ...
        for i in scans:  # ... only through an index, by the key looked up
            assert "Index" in lines[i] or "Bitmap Heap Scan" in lines[i], plan
            assert "Index Cond" in lines[i + 1] or "Recheck Cond" in lines[i + 1], plan
    assert "Hash Join" not in contacts + accounts


# ---- keys given by the caller that inserted the records ----------------------------------------------


def contact_keys_of(
    *emails: str, name: str | None = None, company: str | None = None, domain: str | None = None
) -> ContactKeys:
    return ContactKeys(frozenset(emails), emails[0] if emails else None, name, company, domain)


def test_given_keys_flag_what_the_stored_keys_flag(conn: psycopg.Connection[Any]) -> None:
    """A batch whose new records' keys are given (ingest's inserts) flags exactly the pairs it
    flags when every key is read back, old records of the batch read as stored beside them."""
    old = [
        add_contact(conn, "jane@acme.com"),
        add_contact(conn, "x@other.com", name="john roe", company="acme"),
        add_contact(conn, "y@beta.com", name="ann lee", domain="beta.com"),
        add_contact(conn, "gone@acme.com", erased=True),
    ]
    in_batch_old = add_contact(conn, "z@gamma.com", "shared@gamma.com", name="max mu", company="gamma")
    given = {
        add_contact(conn, *emails, name=name, company=company, domain=domain): contact_keys_of(
            *emails, name=name, company=company, domain=domain
        )
        for emails, name, company, domain in (
            (("jane@acme.com", "j2@acme.com"), None, None, None),
            (("q@elsewhere.com",), "john roe", "acme", None),
            (("r@beta.com",), "ann lee", None, "beta.com"),
            (("gone@acme.com",), None, None, None),
            (("shared@gamma.com",), "max mu", "gamma", None),
            (("solo@delta.com",), "nobody", "delta", "delta.com"),
        )
    }
    batch = [in_batch_old, *given]
    with conn.transaction(force_rollback=True):
        read_back = flag(conn, batch)
    with conn.transaction(force_rollback=True):
        from_given = flag_duplicates(conn, "contact", batch, inserted=given)
    assert from_given == read_back
    assert {(p.record_a, p.signal) for p in read_back} == {
        (old[0], "email"),
        (old[1], "name_company"),
        (old[2], "name_company"),
        (in_batch_old, "email"),
        (in_batch_old, "name_company"),
    }


def test_given_account_keys_flag_what_the_stored_keys_flag(conn: psycopg.Connection[Any]) -> None:
    old = add_account(conn, domain="acme.com", name="acme")
    given = {
        add_account(conn, domain=domain, name=name): AccountKeys(domain, name)
        for domain, name in (("acme.com", "other"), ("zeta.com", "acme"), (None, None))
    }
    with conn.transaction(force_rollback=True):
        read_back = flag(conn, list(given), "account")
    with conn.transaction(force_rollback=True):
        from_given = flag_duplicates(conn, "account", list(given), inserted=given)
    assert from_given == read_back
    assert sorted(p.signal for p in read_back) == ["domain", "name_company"]
    assert {p.record_a for p in read_back} == {old}


def test_given_keys_are_taken_as_given(conn: psycopg.Connection[Any]) -> None:
    """The given keys are not read back: a caller that says a record has a key is matched on it
    (which is why only the transaction that inserted the records with those keys may give them)."""
    other = add_contact(conn, "shared@acme.com")
    record = add_contact(conn, "own@acme.com")
    given = {record: contact_keys_of("shared@acme.com")}
    with conn.transaction(force_rollback=True):
        assert flag(conn, [record]) == []
    assert flag_duplicates(conn, "contact", [record], inserted=given) == [pair(other, record, "email")]


def test_keys_of_the_wrong_kind_are_refused(conn: psycopg.Connection[Any]) -> None:
    """Refused before any lock is taken, whether the keys would be locked one by one or the object
    type as a whole."""
    record = add_contact(conn, "a@acme.com")
    for max_key_locks in (128, 0):
        with pytest.raises(ValueError, match="account keys given for object type 'contact'"):
            flag_duplicates(
                conn,
                "contact",
                [record],
                inserted={record: AccountKeys("acme.com", None)},
                max_key_locks=max_key_locks,
            )
        assert advisory_locks_held(conn) == 0
