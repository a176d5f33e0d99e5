"""Planner statistics for tables a backfill grows faster than autovacuum analyzes them."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg_pool

log = logging.getLogger(__name__)


class StatisticsKeeper:
    """Runs ``ANALYZE`` on the mirrored tables whenever they have grown by half since the last one,
    in a background thread, so no batch waits for it.

    A backfill grows the tables far faster than autovacuum re-analyzes them (once a minute at
    best), and with statistics of a nearly empty table the planner picks plans that scan the
    whole table per batch row (measured: 100 s for one batch at 40,000 contacts). Growth-
    triggered ANALYZE costs O(log n) runs over a load of n records. Run in the batch's own thread
    it stalled that batch (0.9 s at 20,000 contacts, the p99 latency at 1,000 events/s); in the
    background, batches keep the old statistics for the second it takes.
    """

    #: what ingest's statements join and filter on, in the tables under the per-portal views (a view
    #: has no statistics of its own). Only those columns: without the HubSpot values (``jsonb``,
    #: whose statistics no plan reads) the contacts' ANALYZE takes 106 ms instead of 303 at 46,000
    #: contacts. The activity log (149 ms) is appended to, and updated only by a privacy
    #: deletion; no ingest plan reads its statistics, and autovacuum analyzes it.
    TABLES = (
        "hubsync.contacts_all (id, portal_id, hubspot_id, email, name_normalized, company_name_key,"
        " company_domain_root, merged_into_id, erased_at),"
        " hubsync.accounts_all (id, portal_id, hubspot_id, domain_root, name_normalized, merged_into_id),"
        " hubsync.contact_emails_all, hubsync.contact_account_links_all, hubsync.potential_duplicates_all"
    )

    #: the statistics target of these runs (PostgreSQL's default is 100): ANALYZE samples 300 rows
    #: per point, so 3,000 rows here instead of 30,000. What the plans need from a backfill's
    #: ANALYZE is the tables' size and how distinct the keys are, which a 3,000-row sample gives;
    #: finer histograms and common-value lists come with autovacuum's own ANALYZE, at the server's
    #: target, once the tables settle. Measured at 28,000 contacts: 26 ms instead of 160 a run, and
    #: a backfill from 10,000 to 100,000 contacts runs five of them
    statistics_target = 10

    def __init__(
        self, pool: psycopg_pool.ConnectionPool[Any], *, minimum: int = 1_000, growth: float = 0.5
    ) -> None:
        self.pool = pool
        self.minimum = minimum
        self.growth = growth
        self.runs = 0
        self._baseline: int | None = None
        self._since = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _current_size(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class"
                " WHERE oid IN ('hubsync.contacts_all'::regclass, 'hubsync.accounts_all'::regclass)"
            ).fetchone()
            return int(row[0]) if row else 0

    def note(self, created: int) -> bool:
        """Count ``created`` records; start an ``ANALYZE`` when due (returns whether it did)."""
        with self._lock:
            if self._baseline is None:
                self._baseline = self._current_size()
            self._since += created
            if self._since < max(self.minimum, self.growth * self._baseline):
                return False
            if self._thread is not None and self._thread.is_alive():
                return False  # one at a time; the next batch tries again
            self._baseline += self._since
            self._since = 0
            self._thread = threading.Thread(target=self._analyze, name="hubsync-analyze", daemon=True)
            self._thread.start()
            return True

    def _analyze(self) -> None:
        try:
            with self.pool.connection() as conn:
                # SET LOCAL: the pooled connection goes back with the server's target
                conn.execute(f"SET LOCAL default_statistics_target = {int(self.statistics_target)}")
                conn.execute(f"ANALYZE {self.TABLES}")
                conn.commit()
            self.runs += 1
        except Exception as exc:  # statistics are an optimisation: never fail a batch over them
            log.warning("ANALYZE of the mirrored tables failed: %s", exc)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running ``ANALYZE`` (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
