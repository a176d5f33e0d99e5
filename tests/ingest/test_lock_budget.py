"""``HUBSYNC_INGEST_MAX_LOCKS``: how many records and matching keys a batch locks one by one, and the
check that keeps it within the PostgreSQL server's lock table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from hubsync.ingest.agents import ingest_lock_demand
from hubsync.ingest.apply import IngestContext, apply_batch
from hubsync.ingest.record_io import MAX_RECORD_LOCKS
from hubsync.mapping.definitions import effective_definitions
from hubsync.mapping.store import load_mappings
from hubsync.matching.duplicates import MAX_KEY_LOCKS
from hubsync.settings import Settings
from hubsync.storage.locks import LOCK_TABLE_SHARE, LockBudgetError, check_lock_budget, lock_table_slots
from tests.ingest import events_factory as f

pytestmark = pytest.mark.integration

AT = 1_767_000_000_000
CONTACTS = 6


@pytest.fixture
def db(seeded_database_url: str) -> str:
    return seeded_database_url


def _advisory_locks_of_a_batch(db: str, max_locks: int) -> dict[str, int]:
    """Apply six new contacts with ``max_locks``; the advisory locks the transaction holds before it
    commits, by mode (rolled back: each call starts from the same empty database)."""
    events = f.ces(
        [
            f.snapshot(
                str(i), {"email": f"p{i}@example.org", "firstname": f"P{i}", "lastname": "Lovelace"}, at=AT
            )
            for i in range(1, CONTACTS + 1)
        ]
    )
    with psycopg.connect(db) as conn:
        ctx = IngestContext(
            mappings=load_mappings(conn),
            definitions={k: effective_definitions(conn, k) for k in ("contact", "account")},
            max_locks=max_locks,
        )
        apply_batch(conn, events, ctx)
        rows = conn.execute(
            "SELECT mode, count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " GROUP BY mode"
        ).fetchall()
        conn.rollback()
    return {mode: int(n) for mode, n in rows}


def test_a_batch_within_the_setting_locks_each_record_and_key(db: str) -> None:
    held = _advisory_locks_of_a_batch(db, max_locks=1_024)
    # shared: the contacts' detection as a whole; exclusive: each record and each key (an e-mail per
    # contact, at least)
    assert held.get("ShareLock") == 1, held
    assert held.get("ExclusiveLock", 0) >= 2 * CONTACTS, held


def test_a_batch_over_the_setting_locks_no_record_and_the_whole_detection_instead(db: str) -> None:
    held = _advisory_locks_of_a_batch(db, max_locks=CONTACTS - 1)
    # the records are left to their row locks and the unique constraint (record_io.lock_records);
    # the contacts' detection is locked as a whole
    assert held == {"ExclusiveLock": 1}, held


def test_the_lock_table_is_read_off_the_server(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        per_xact, conns, prepared = (
            int(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("max_locks_per_transaction", "max_connections", "max_prepared_transactions")
        )
        slots = lock_table_slots(conn)
        assert slots == per_xact * (conns + prepared)
        check_lock_budget(conn, slots // LOCK_TABLE_SHARE, "HUBSYNC_INGEST_MAX_LOCKS")  # a third: fits
        with pytest.raises(LockBudgetError) as refused:
            check_lock_budget(conn, slots // LOCK_TABLE_SHARE + 1, "HUBSYNC_INGEST_MAX_LOCKS")
    message = str(refused.value)
    assert "HUBSYNC_INGEST_MAX_LOCKS" in message and f"{slots:,} slots" in message
    assert "max_locks_per_transaction" in message


def test_the_default_fits_a_default_server() -> None:
    """PostgreSQL's defaults: 64 locks per transaction, 100 connections, no prepared transactions.
    A worker's batches at once count: each lane's consumers, both lanes."""
    settings = Settings()
    assert settings.ingest_consumers == 3
    assert ingest_lock_demand(settings) == 2 * settings.ingest_max_locks * 2 * 3
    assert ingest_lock_demand(settings) * LOCK_TABLE_SHARE <= 64 * 100
    assert ingest_lock_demand(Settings(ingest_consumers=1)) == ingest_lock_demand(settings) // 3


def test_code_built_without_settings_locks_like_a_default_worker() -> None:
    """The processor's, the record locks' and duplicate detection's own defaults are the setting's."""
    assert MAX_RECORD_LOCKS == MAX_KEY_LOCKS == Settings().ingest_max_locks


@pytest.mark.parametrize("command", [["worker", "--no-refresh"], ["replay"]], ids=["worker", "replay"])
def test_a_command_whose_batches_could_fill_the_lock_table_refuses_to_start(
    database_url: str, tmp_path: Path, command: list[str]
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never reached: the check comes first
        "HUBSYNC_INGEST_MAX_LOCKS": "1000000",
    }
    proc = subprocess.run(
        [sys.executable, "-c", "from hubsync.cli import main; main()", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    said = " ".join(proc.stderr.split())  # as printed, wrapped to the terminal
    assert (
        "HUBSYNC_INGEST_MAX_LOCKS lets a worker's batches (3 per lane) take 12,000,000 advisory locks at once"
        in said
    )
    assert "Traceback" not in proc.stderr
