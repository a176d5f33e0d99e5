"""Prospect-database marking against a real PostgreSQL: in-CRM people and organizations drop out of
the net-new lists, and come back when the CRM record goes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hubsync.matching.prospects import ProspectMarks, mark_prospects, net_new_organizations, net_new_people
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        yield connection


def add_person(conn: psycopg.Connection[Any], email: str, first: str = "Jane", org: int | None = None) -> int:
    row = conn.execute(
        """
        INSERT INTO hubsync.prospect_people (email_normalized, first_name, last_name, organization_id, attributes)
        VALUES (%s, %s, 'Doe', %s, '{"jobtitle": "CTO"}') RETURNING id
        """,
        (email, first, org),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_organization(conn: psycopg.Connection[Any], domain_root: str) -> int:
    row = conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root) VALUES (%s, %s, %s) RETURNING id",
        (domain_root.split(".")[0].title(), f"www.{domain_root}", domain_root),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_contact(
    conn: psycopg.Connection[Any],
    *emails: str,
    hubspot_id: str | None = None,
    crm_status: str = "synced",
    erased: bool = False,
) -> int:
    row = conn.execute(
        """
        INSERT INTO hubsync.contacts (creation_source, crm_status, hubspot_id, email, erased_at)
        VALUES ('hubspot', %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id
        """,
        (crm_status, hubspot_id, emails[0] if emails else None, erased),
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
    domain_root: str,
    *,
    hubspot_id: str | None = None,
    crm_status: str = "synced",
) -> int:
    row = conn.execute(
        """
        INSERT INTO hubsync.accounts (creation_source, crm_status, hubspot_id, domain, domain_root)
        VALUES ('hubspot', %s, %s, %s, %s) RETURNING id
        """,
        (crm_status, hubspot_id, domain_root, domain_root),
    ).fetchone()
    assert row is not None
    return int(row[0])


def person_state(conn: psycopg.Connection[Any], person: int) -> tuple[bool, int | None, bool]:
    """(in_crm, matched_contact_id, in_crm_since is set)."""
    row = conn.execute(
        "SELECT in_crm, matched_contact_id, in_crm_since IS NOT NULL FROM hubsync.prospect_people WHERE id = %s",
        (person,),
    ).fetchone()
    assert row is not None
    return bool(row[0]), row[1], bool(row[2])


def org_state(conn: psycopg.Connection[Any], org: int) -> tuple[bool, int | None, bool]:
    row = conn.execute(
        "SELECT in_crm, matched_account_id, in_crm_since IS NOT NULL FROM hubsync.prospect_organizations WHERE id = %s",
        (org,),
    ).fetchone()
    assert row is not None
    return bool(row[0]), row[1], bool(row[2])


def test_people_matched_by_email_are_marked(conn: psycopg.Connection[Any]) -> None:
    jane = add_person(conn, "jane@acme.com")
    john = add_person(conn, "john@acme.com", first="John")
    other = add_person(conn, "other@acme.com", first="Other")
    contact = add_contact(conn, "jane@acme.com", hubspot_id="1")
    add_contact(conn, "john.private@gmail.com", "john@acme.com", hubspot_id="2")  # an additional address
    marks = mark_prospects(conn, emails=["jane@acme.com", "john@acme.com", "other@acme.com"], domain_roots=[])
    assert marks == ProspectMarks(people_marked=2)
    assert person_state(conn, jane) == (True, contact, True)
    assert person_state(conn, john)[0] is True
    assert person_state(conn, other) == (False, None, False)
    assert [p["id"] for p in net_new_people(conn)] == [other]


def test_only_linked_live_contacts_count(conn: psycopg.Connection[Any]) -> None:
    not_linked = add_person(conn, "a@acme.com")
    deleted = add_person(conn, "b@acme.com")
    erased = add_person(conn, "c@acme.com")
    add_contact(conn, "a@acme.com")  # created in the platform, not in HubSpot
    add_contact(conn, "b@acme.com", hubspot_id="1", crm_status="deleted_in_crm")
    add_contact(conn, "c@acme.com", hubspot_id="2", erased=True)
    marks = mark_prospects(conn, emails=["a@acme.com", "b@acme.com", "c@acme.com"], domain_roots=[])
    assert marks == ProspectMarks()
    assert [p["id"] for p in net_new_people(conn)] == [not_linked, deleted, erased]


def test_lowest_contact_id_is_the_match(conn: psycopg.Connection[Any]) -> None:
    person = add_person(conn, "jane@acme.com")
    first = add_contact(conn, "jane@acme.com", hubspot_id="1")
    add_contact(conn, "jane@acme.com", hubspot_id="2")
    mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[])
    assert person_state(conn, person) == (True, first, True)


def test_deletion_in_crm_unmarks_and_restore_marks_again(conn: psycopg.Connection[Any]) -> None:
    person = add_person(conn, "jane@acme.com")
    contact = add_contact(conn, "jane@acme.com", hubspot_id="1")
    assert mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[]).people_marked == 1

    conn.execute("UPDATE hubsync.contacts SET crm_status = 'deleted_in_crm' WHERE id = %s", (contact,))
    assert mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[]) == ProspectMarks(people_unmarked=1)
    assert person_state(conn, person) == (False, None, False)
    assert [p["email"] for p in net_new_people(conn)] == ["jane@acme.com"]

    conn.execute("UPDATE hubsync.contacts SET crm_status = 'synced' WHERE id = %s", (contact,))
    assert mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[]).people_marked == 1
    assert net_new_people(conn) == []


def test_a_second_match_keeps_in_crm_since_and_moves_to_the_lowest(conn: psycopg.Connection[Any]) -> None:
    person = add_person(conn, "jane@acme.com")
    later = add_contact(conn, "jane@acme.com", hubspot_id="1")
    mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[])
    conn.execute("UPDATE hubsync.prospect_people SET in_crm_since = '2020-01-01T00:00:00Z'")
    conn.execute("UPDATE hubsync.contacts SET hubspot_id = NULL WHERE id = %s", (later,))
    replacement = add_contact(conn, "jane@acme.com", hubspot_id="9")
    assert mark_prospects(conn, emails=["jane@acme.com"], domain_roots=[]) == ProspectMarks()
    row = conn.execute(
        "SELECT matched_contact_id, in_crm_since = '2020-01-01T00:00:00Z' FROM hubsync.prospect_people WHERE id = %s",
        (person,),
    ).fetchone()
    assert row == (replacement, True)


def test_only_changed_rows_are_updated(conn: psycopg.Connection[Any]) -> None:
    person = add_person(conn, "jane@acme.com")
    untouched = add_person(conn, "nobody@acme.com")
    add_contact(conn, "jane@acme.com", hubspot_id="1")
    mark_prospects(conn, emails=["jane@acme.com", "nobody@acme.com"], domain_roots=[])
    before = conn.execute(
        "SELECT id, updated_at, xmin::text FROM hubsync.prospect_people_all ORDER BY id"
    ).fetchall()
    conn.commit()
    again = mark_prospects(conn, emails=["jane@acme.com", "nobody@acme.com"], domain_roots=[])
    assert again == ProspectMarks()
    after = conn.execute(
        "SELECT id, updated_at, xmin::text FROM hubsync.prospect_people_all ORDER BY id"
    ).fetchall()
    assert before == after
    assert {person, untouched} == {r[0] for r in after}


def test_organizations_matched_by_domain_root(conn: psycopg.Connection[Any]) -> None:
    acme = add_organization(conn, "acme.com")
    globex = add_organization(conn, "globex.com")
    initech = add_organization(conn, "initech.com")
    account = add_account(conn, "acme.com", hubspot_id="10")
    add_account(conn, "globex.com")  # platform-only
    marks = mark_prospects(conn, emails=[], domain_roots=["acme.com", "globex.com", "initech.com"])
    assert marks == ProspectMarks(organizations_marked=1)
    assert org_state(conn, acme) == (True, account, True)
    assert [o["id"] for o in net_new_organizations(conn)] == [globex, initech]

    conn.execute("UPDATE hubsync.accounts SET crm_status = 'deleted_in_crm' WHERE id = %s", (account,))
    assert mark_prospects(conn, emails=[], domain_roots=["acme.com"]) == ProspectMarks(
        organizations_unmarked=1
    )
    assert org_state(conn, acme) == (False, None, False)
    assert [o["domain_root"] for o in net_new_organizations(conn)] == [
        "acme.com",
        "globex.com",
        "initech.com",
    ]


def test_only_the_given_keys_are_recomputed(conn: psycopg.Connection[Any]) -> None:
    person = add_person(conn, "jane@acme.com")
    org = add_organization(conn, "acme.com")
    add_contact(conn, "jane@acme.com", hubspot_id="1")
    add_account(conn, "acme.com", hubspot_id="10")
    assert mark_prospects(conn, emails=[], domain_roots=[]) == ProspectMarks()
    assert mark_prospects(conn, emails=["x@y.com"], domain_roots=["y.com"]) == ProspectMarks()
    assert person_state(conn, person)[0] is False and org_state(conn, org)[0] is False


def test_net_new_paging(conn: psycopg.Connection[Any]) -> None:
    ids = [add_person(conn, f"p{i}@acme.com") for i in range(5)]
    assert [p["id"] for p in net_new_people(conn, limit=2)] == ids[:2]
    assert [p["id"] for p in net_new_people(conn, limit=2, offset=4)] == ids[4:]
    first = net_new_people(conn, limit=1)[0]
    assert first["attributes"] == {"jobtitle": "CTO"} and first["first_name"] == "Jane"
    assert net_new_organizations(conn) == []
