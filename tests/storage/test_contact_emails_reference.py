"""A contact's e-mail keys reference it through statement-level triggers (migration 0016), which keep
every guarantee of the foreign key they replaced: no key of a contact that does not exist, a contact
being deleted and a key being written wait for each other, a deleted or truncated contact's keys go
with it, and a referenced id cannot change. Keys of a contact the writing transaction wrote itself
are not locked (the cheap case, a backfill's)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def url(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    return fresh_database_url


def _contact(conn: psycopg.Connection[Any], hubspot_id: str) -> int:
    row = conn.execute(
        "INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id)"
        " VALUES ('hubspot', 'synced', %s) RETURNING id",
        (hubspot_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _add_key(conn: psycopg.Connection[Any], contact_id: int, email: str) -> None:
    conn.execute(
        "INSERT INTO hubsync.contact_emails (contact_id, email_normalized, is_primary) VALUES (%s, %s, true)",
        (contact_id, email),
    )


def _copy_keys(conn: psycopg.Connection[Any], rows: bytes) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY hubsync.contact_emails_all (contact_id, email_normalized, is_primary) FROM STDIN"
        ) as copy,
    ):
        copy.write(rows)


def _keys(conn: psycopg.Connection[Any], contact_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT email_normalized FROM hubsync.contact_emails_all WHERE contact_id = %s ORDER BY 1",
        (contact_id,),
    ).fetchall()
    return [r[0] for r in rows]


def _locked_by_a_transaction(conn: psycopg.Connection[Any], contact_id: int) -> bool:
    """Whether the contact's row carries a lock (its xmax is set and it is not deleted)."""
    row = conn.execute(
        "SELECT xmax::text::bigint FROM hubsync.contacts_all WHERE id = %s", (contact_id,)
    ).fetchone()
    assert row is not None
    return int(row[0]) != 0


def test_a_key_of_a_contact_that_does_not_exist_is_refused(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        real = _contact(conn, "1")
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="contact_emails_all"):
            _add_key(conn, real + 1000, "ghost@acme.com")
        # one missing id among good ones refuses the whole statement, COPY included
        rows = f"{real}\treal@acme.com\tt\n{real + 1000}\tghost@acme.com\tt\n".encode()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="1 of 2 contact ids"):
            _copy_keys(conn, rows)
        assert _keys(conn, real) == []
        _add_key(conn, real, "real@acme.com")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE hubsync.contact_emails SET contact_id = %s", (real + 1000,))
        assert _keys(conn, real) == ["real@acme.com"]


def test_deleting_or_truncating_contacts_takes_their_keys(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        a, b, c = (_contact(conn, h) for h in ("1", "2", "3"))
        for contact_id in (a, b, c):
            _add_key(conn, contact_id, f"{contact_id}@acme.com")
        conn.execute("DELETE FROM hubsync.contacts WHERE id = ANY(%s)", ([a, b],))
        assert (_keys(conn, a), _keys(conn, b), _keys(conn, c)) == ([], [], [f"{c}@acme.com"])
        conn.execute("TRUNCATE hubsync.contacts_all CASCADE")
        assert conn.execute("SELECT count(*) FROM hubsync.contact_emails_all").fetchone() == (0,)


def test_a_referenced_contact_keeps_its_id(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        referenced, alone = _contact(conn, "1"), _contact(conn, "2")
        _add_key(conn, referenced, "a@acme.com")
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="changes the id"):
            conn.execute("UPDATE hubsync.contacts SET id = id + 1000 WHERE id = %s", (referenced,))
        conn.execute("UPDATE hubsync.contacts SET id = id + 1000 WHERE id = %s", (alone,))


def test_keys_of_contacts_the_transaction_wrote_take_no_lock_others_do(url: str) -> None:
    """The cheap case: a contact this transaction inserted (or updated) cannot be deleted by another
    before it ends, so its keys lock nothing; a contact another transaction wrote is held FOR KEY
    SHARE, as a foreign key's check holds it."""
    with psycopg.connect(url, autocommit=True) as setup:
        existing = _contact(setup, "old")
        updated = _contact(setup, "updated")
    with psycopg.connect(url) as conn:
        new = _contact(conn, "new")
        conn.execute("UPDATE hubsync.contacts SET last_name = 'Changed' WHERE id = %s", (updated,))
        _copy_keys(conn, "".join(f"{c}\t{c}@acme.com\tt\n" for c in (new, updated, existing)).encode())
        assert not _locked_by_a_transaction(conn, new)
        assert not _locked_by_a_transaction(conn, updated)  # its new row version, written by this transaction
        assert _locked_by_a_transaction(conn, existing)
        conn.rollback()


def _run_later(target: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _waiting_for_a_lock(url: str, marker: str) -> bool:
    with psycopg.connect(url, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f"%{marker}%",),
        ).fetchone()
        return bool(row and row[0])


def _wait_until_blocked(url: str, marker: str) -> None:
    deadline = time.monotonic() + 10
    while not _waiting_for_a_lock(url, marker):
        assert time.monotonic() < deadline, f"{marker}: never waited for a lock"
        time.sleep(0.02)


def test_a_key_written_while_its_contact_is_deleted_waits_and_is_refused(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as setup:
        contact = _contact(setup, "1")
    with psycopg.connect(url) as deleter:
        deleter.execute("DELETE FROM hubsync.contacts WHERE id = %s", (contact,))

        def write_key() -> None:
            with psycopg.connect(url, autocommit=True) as writer:
                writer.execute(
                    "INSERT INTO hubsync.contact_emails (contact_id, email_normalized) VALUES (%s, 'k@acme.com')"
                    " /* key-writer */",
                    (contact,),
                )

        thread, errors = _run_later(write_key)
        _wait_until_blocked(url, "key-writer")
        deleter.commit()
        thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation), errors
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hubsync.contact_emails_all").fetchone() == (0,)


def test_a_contact_deleted_while_its_key_is_written_waits_and_takes_the_key(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as setup:
        contact = _contact(setup, "1")
    with psycopg.connect(url) as writer:
        _add_key(writer, contact, "k@acme.com")

        def delete_contact() -> None:
            with psycopg.connect(url, autocommit=True) as deleter:
                deleter.execute(
                    "DELETE FROM hubsync.contacts WHERE id = %s /* contact-deleter */", (contact,)
                )

        thread, errors = _run_later(delete_contact)
        _wait_until_blocked(url, "contact-deleter")
        writer.commit()
        thread.join(10)
    assert errors == []
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hubsync.contact_emails_all").fetchone() == (0,), (
            "orphan key"
        )
