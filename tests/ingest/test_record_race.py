"""Two batches naming one record at the same time, on two connections: a contact's batch creating its
company's placeholder while the companies' batch inserts that company (record locks: neither fails, one
account results), and batches too big for record locks (row locks and the unique constraint)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from hubsync.ingest.apply import IngestContext, apply_batch
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.storage.retriable import RETRIABLE_DB_ERRORS
from hubsync.testing import wait_for
from tests.ingest import events_factory as f

pytestmark = pytest.mark.integration

AT = 1_767_000_000_000


@pytest.fixture
def db(seeded_database_url: str) -> str:
    return seeded_database_url


def _contact_batch() -> list[Any]:
    return f.ces(
        [f.snapshot("11", {"email": "ada@engines.example", "firstname": "Ada"}, at=AT, companies=["77"])]
    )


def _company_batch() -> list[Any]:
    return f.ces(
        [f.company_snapshot("77", {"name": "Analytical Engines", "domain": "engines.example"}, at=AT)]
    )


def _apply(conn: psycopg.Connection[Any], events: list[Any], max_locks: int = 1_024) -> None:
    ctx = IngestContext(
        mappings=load_mappings(conn),
        definitions={k: effective_definitions(conn, k) for k in ("contact", "account")},
        max_locks=max_locks,
    )
    apply_batch(conn, events, ctx)


def _waiting_on_a_lock(db: str, pid: int) -> bool:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


def _race(
    db: str, first: Callable[[], list[Any]], second: Callable[[], list[Any]], max_locks: int = 1_024
) -> list[BaseException]:
    """``first`` applied and not yet committed while ``second`` is applied on another connection;
    then ``first`` commits. ``second`` must wait for it; what it raised is returned."""
    errors: list[BaseException] = []
    with psycopg.connect(db) as one, psycopg.connect(db) as two:
        two_pid = two.info.backend_pid
        with one.transaction():
            _apply(one, first(), max_locks)

            def run_second() -> None:
                try:
                    with two.transaction():
                        _apply(two, second(), max_locks)
                except BaseException as exc:  # reported to the test thread
                    errors.append(exc)

            thread = threading.Thread(target=run_second)
            thread.start()

            def second_waits() -> bool:
                if _waiting_on_a_lock(db, two_pid):
                    return True
                assert thread.is_alive(), f"the second batch did not wait for the first: {errors}"
                return False

            wait_for(second_waits, timeout=20, interval=0.02, what="the second batch to wait for the first")
        thread.join(timeout=30)
    return errors


def _state(db: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with psycopg.connect(db) as conn:
        accounts = conn.execute(
            "SELECT hubspot_id, name, domain FROM hubsync.accounts ORDER BY id"
        ).fetchall()
        links = conn.execute(
            "SELECT c.hubspot_id, a.hubspot_id FROM hubsync.contact_account_links l"
            " JOIN hubsync.contacts c ON c.id = l.contact_id JOIN hubsync.accounts a ON a.id = l.account_id"
            " WHERE l.removed_at IS NULL"
        ).fetchall()
    return accounts, links


@pytest.mark.parametrize("contact_first", [True, False], ids=["contact-first", "company-first"])
def test_both_paths_at_once_make_one_account(db: str, contact_first: bool) -> None:
    first, second = (_contact_batch, _company_batch) if contact_first else (_company_batch, _contact_batch)
    assert not _race(db, first, second)
    accounts, links = _state(db)
    assert accounts == [("77", "Analytical Engines", "engines.example")]
    assert links == [("11", "77")]


def test_a_batch_over_the_lock_cap_locks_the_kinds_that_fit(db: str) -> None:
    from hubsync.ingest.record_io import lock_records

    with psycopg.connect(db) as big, psycopg.connect(db) as small:
        small_pid = small.info.backend_pid
        with big.transaction():
            # the one contact fits in two locks, the three accounts after it do not
            lock_records(big, {"account": ["1", "2", "3"], "contact": ["1"]}, max_locks=2)
            with small.transaction():
                lock_records(small, {"account": ["1"]})  # not locked by the big batch: no wait
            done = threading.Event()

            def run_small() -> None:
                with small.transaction():
                    lock_records(small, {"contact": ["1"]})
                done.set()

            thread = threading.Thread(target=run_small)
            thread.start()

            def small_waits() -> bool:
                if _waiting_on_a_lock(db, small_pid):
                    return True
                assert not done.is_set(), "a record lock passed one held by another batch"
                return False

            wait_for(small_waits, timeout=20, interval=0.02, what="the small batch to wait for the record")
        thread.join(timeout=30)
        assert done.is_set()


def _contacts(db: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT hubspot_id, properties->>'firstname', properties->>'lastname' FROM hubsync.contacts"
            " ORDER BY id"
        ).fetchall()


def test_big_batches_creating_one_record_fail_retriably_and_the_retry_applies_on_top(db: str) -> None:
    """No record lock (``max_locks=0``): the second insert of contact 11 waits for the first batch,
    then fails on the unique constraint, a retriable error; applied again, it loads the committed row."""

    def first() -> list[Any]:
        return f.ces([f.snapshot("11", {"email": "ada@example.org", "firstname": "Ada"}, at=AT)])

    def second() -> list[Any]:
        return f.ces([f.snapshot("11", {"lastname": "Lovelace"}, at=AT + 1)])

    errors = _race(db, first, second, max_locks=0)
    assert len(errors) == 1 and isinstance(errors[0], RETRIABLE_DB_ERRORS), errors
    assert _contacts(db) == [("11", "Ada", None)]
    with psycopg.connect(db) as conn, conn.transaction():
        _apply(conn, second(), max_locks=0)
    assert _contacts(db) == [("11", "Ada", "Lovelace")]


def test_big_batches_updating_one_record_wait_for_each_others_row_lock(db: str) -> None:
    with psycopg.connect(db) as conn, conn.transaction():
        _apply(conn, f.ces([f.snapshot("11", {"email": "ada@example.org"}, at=AT)]))

    def first() -> list[Any]:
        return f.ces([f.snapshot("11", {"firstname": "Ada"}, at=AT + 1)])

    def second() -> list[Any]:
        return f.ces([f.snapshot("11", {"lastname": "Lovelace"}, at=AT + 2)])

    assert not _race(db, first, second, max_locks=0)
    assert _contacts(db) == [("11", "Ada", "Lovelace")]
