"""Portal-scoped state (migration 0011): every per-portal table is seen through a view of the
connection's portal, so one portal's rows can be neither read nor written from another's; a
single-portal database moves to its portal without a resync; and two workers of two portals
sharing one database keep the same e-mail addresses apart, with no cross-portal duplicate."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from bench._change_events import contact_snapshot_events

from hubsync.settings import scoped_conninfo
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.portal_scope import current_portal
from tests.ingest.worker_harness import change_event_codec, prepare_worker, produce, query, running_worker

pytestmark = pytest.mark.integration

A, B = 62515, 777001


def _contact(conn: psycopg.Connection[Any], hubspot_id: str, email: str) -> int:
    row = conn.execute(
        "INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id, email)"
        " VALUES ('hubspot', 'synced', %s, %s) RETURNING id",
        (hubspot_id, email),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_portal_sees_and_changes_only_its_own_rows(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    with (
        psycopg.connect(scoped_conninfo(fresh_database_url, A), autocommit=True) as a,
        psycopg.connect(scoped_conninfo(fresh_database_url, B), autocommit=True) as b,
    ):
        assert (current_portal(a), current_portal(b)) == (A, B)
        in_a = _contact(a, "1", "same@acme.com")
        _contact(b, "1", "same@acme.com")  # the same HubSpot id and address in another portal: allowed
        assert a.execute("SELECT count(*) FROM hubsync.contacts").fetchone() == (1,)
        assert b.execute("SELECT count(*) FROM hubsync.contacts").fetchone() == (1,)
        changed = b.execute("UPDATE hubsync.contacts SET email = 'x@y.z' WHERE id = %s", (in_a,))
        assert changed.rowcount == 0, "portal B changed portal A's record"
        with pytest.raises(psycopg.errors.WithCheckOptionViolation):
            b.execute(
                "INSERT INTO hubsync.contacts (portal_id, creation_source, crm_status) VALUES (%s, 'platform', 'not_linked')",
                (A,),
            )
        with pytest.raises(psycopg.errors.UniqueViolation):
            _contact(a, "1", "other@acme.com")  # a HubSpot id is still unique within its portal


def test_every_portal_view_reads_the_current_portal_once_per_statement(fresh_database_url: str) -> None:
    """Migration 0015: a view's filter and check option compare with the current portal computed once
    per statement (an InitPlan), not with a function call per row (~2 µs each, ~20 per ingested
    contact); the views still hide and refuse other portals' rows (the test above)."""
    migrate(fresh_database_url)
    with psycopg.connect(scoped_conninfo(fresh_database_url, A), autocommit=True) as conn:
        views = conn.execute(
            "SELECT v.viewname FROM pg_views v JOIN pg_tables t"
            "  ON t.schemaname = v.schemaname AND t.tablename = v.viewname || '_all'"
            " WHERE v.schemaname = 'hubsync' ORDER BY 1"
        ).fetchall()
        assert len(views) >= 15
        for (view,) in views:
            for statement in (f"SELECT * FROM hubsync.{view}", f"DELETE FROM hubsync.{view}"):
                plan = "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN (COSTS off) {statement}"))
                assert "InitPlan" in plan, f"{statement}: {plan}"
                assert "current_portal()" not in plan, f"{statement} calls current_portal() per row:\n{plan}"


def test_a_single_portal_database_moves_to_its_portal_without_a_resync(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        seed_defaults(conn, load_defaults())
        _contact(conn, "42", "kept@acme.com")
        assert current_portal(conn) == 0  # no portal named yet
    migrate(fresh_database_url, portal_id=A)  # `hubsync db migrate` with HUBSYNC_PORTAL_ID
    with psycopg.connect(fresh_database_url) as conn:
        assert current_portal(conn) == A
        assert conn.execute("SELECT hubspot_id FROM hubsync.contacts").fetchall() == [("42",)]
        assert conn.execute("SELECT DISTINCT portal_id FROM hubsync.contacts_all").fetchall() == [(A,)]
        assert conn.execute("SELECT count(*) FROM hubsync.field_mappings").fetchone()[0] > 0  # type: ignore[index]
    migrate(fresh_database_url, portal_id=B)  # the home portal is named once: B is another portal
    with psycopg.connect(fresh_database_url) as conn:
        assert current_portal(conn) == A


def test_two_portals_in_one_database_keep_the_same_addresses_apart(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """The same 30 contacts (with planted duplicates) arrive for two portals, each through its own
    worker: each portal gets its 30 records and its own duplicate pairs, nothing across portals."""
    setups = {
        portal: prepare_worker(
            kafka_bootstrap_servers, fresh_database_url, partitions=1, HUBSYNC_PORTAL_ID=str(portal)
        )
        for portal in (A, B)
    }
    codec, schema = change_event_codec()
    events = list(contact_snapshot_events(30, seed=5, duplicate_ratio=0.3))
    for portal, setup in setups.items():
        with psycopg.connect(scoped_conninfo(fresh_database_url, portal)) as conn:
            seed_defaults(conn, load_defaults())
        produce(
            kafka_bootstrap_servers,
            setup.topics.hubspot_contacts,
            [(key, codec.encode("contacts", schema, value), None) for key, value in events],
        )
    with (
        running_worker(setups[A].worker_env(), "portal-a") as a,
        running_worker(setups[B].worker_env(), "portal-b"),
    ):

        def applied(portal: int) -> int:
            return len(query(scoped_conninfo(fresh_database_url, portal), "SELECT 1 FROM hubsync.contacts"))

        a.wait_until(lambda: applied(A) == 30 and applied(B) == 30, "30 contacts in each portal", timeout=90)

        def pairs(portal: int) -> set[tuple[str, str]]:
            rows = query(
                scoped_conninfo(fresh_database_url, portal),
                "SELECT ca.hubspot_id, cb.hubspot_id FROM hubsync.potential_duplicates d"
                " JOIN hubsync.contacts ca ON ca.id = d.record_a JOIN hubsync.contacts cb ON cb.id = d.record_b",
            )
            return {(str(x), str(y)) for x, y in rows}

        a.wait_until(lambda: bool(pairs(A)) and pairs(A) == pairs(B), "the same duplicate pairs per portal")
    with psycopg.connect(fresh_database_url) as conn:
        crossing = conn.execute(
            "SELECT count(*) FROM hubsync.potential_duplicates_all d"
            " JOIN hubsync.contacts_all ca ON ca.id = d.record_a JOIN hubsync.contacts_all cb ON cb.id = d.record_b"
            " WHERE ca.portal_id <> cb.portal_id OR d.portal_id <> ca.portal_id"
        ).fetchone()
        assert crossing == (0,), "a duplicate pair across portals"
        assert conn.execute("SELECT count(*) FROM hubsync.contacts_all").fetchone() == (60,)


def test_status_and_records_commands_work_on_the_portal_named(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    """``hubsync --portal N <command>``: the database side of every command is that portal's."""
    from typer.testing import CliRunner

    from hubsync.cli import app

    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    with psycopg.connect(scoped_conninfo(fresh_database_url, B), autocommit=True) as b:
        _contact(b, "7", "only-b@acme.com")
    # None: unset during each call and restored after it (--portal sets it in the process)
    env: dict[str, str | None] = {**setup.env, "HUBSYNC_PORTAL_ID": None}

    def contacts(*portal: str) -> object:
        result = CliRunner().invoke(app, [*portal, "status", "--json"], env=env)
        assert result.exit_code == 0, result.output
        return __import__("json").loads(result.output)["records"]["contacts"]

    assert contacts("--portal", str(B)) == {"synced": 1}
    assert contacts() == {}  # the home portal has none
    shown = CliRunner().invoke(app, ["--portal", str(B), "records", "show", "--hubspot-id", "7"], env=env)
    assert shown.exit_code == 0 and "contact 1" in shown.output, shown.output
    missing = CliRunner().invoke(app, ["records", "show", "--hubspot-id", "7"], env=env)
    assert missing.exit_code != 0
