"""Field mappings and matched prospects read from PostgreSQL, and decide() on what they give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from hubsync.mapping.rules import Mapping, MappingDecision, decide
from hubsync.mapping.store import MappingTable, load_mappings, load_prospects
from hubsync.mapping.values import PropertyDefinition
from hubsync.storage.defaults import MappingMode, load_defaults, seed_defaults
from hubsync.storage.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(fresh_database_url)
    with psycopg.connect(fresh_database_url) as connection:
        yield connection


def test_mappings_by_object_type_and_mode(conn: psycopg.Connection[Any]) -> None:
    assert load_mappings(conn) == MappingTable()
    seed_defaults(conn, load_defaults())
    table = load_mappings(conn)
    defaults = load_defaults().field_mappings
    assert len(table.mappings) == len(defaults)
    assert table.active("account") == (
        Mapping("account", "city", "city", MappingMode.AUTOFILL),
        Mapping("account", "industry", "industry", MappingMode.AUTOFILL),
        Mapping("account", "numberofemployees", "numberofemployees", MappingMode.OVERWRITE),
        Mapping("account", "phone", "phone", MappingMode.AUTOFILL),
    )
    contact = table.for_object("contact")
    assert [m.hubspot_property for m in contact] == sorted(
        d.hubspot_property for d in defaults if d.object_type == "contact"
    )
    assert {m.mode for m in contact} == {MappingMode.NONE, MappingMode.AUTOFILL}
    assert all(m.mode != MappingMode.NONE for m in table.active("contact"))

    conn.execute(
        "UPDATE hubsync.field_mappings SET mode = 'overwrite'"
        " WHERE object_type = 'contact' AND hubspot_property = 'firstname'"
    )
    firstname = [m for m in load_mappings(conn).active("contact") if m.hubspot_property == "firstname"]
    assert firstname == [Mapping("contact", "firstname", "first_name", MappingMode.OVERWRITE)]


def test_prospects_by_email_and_root_domain(conn: psycopg.Connection[Any]) -> None:
    org_id = conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)"
        " VALUES ('Acme', 'www.acme.com', 'acme.com', %s) RETURNING id",
        (Jsonb({"industry": "Computer Software", "numberofemployees": 250}),),
    ).fetchone()
    conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain_root) VALUES ('Other', 'other.org')"
    )
    conn.execute(
        "INSERT INTO hubsync.prospect_people (email_normalized, first_name, last_name, organization_id,"
        " attributes) VALUES ('jane@acme.com', 'Jane', NULL, %s, %s),"
        " ('joe@acme.com', 'Joe', 'Bloggs', %s, '{}')",
        (org_id[0] if org_id else None, Jsonb({"jobtitle": "CTO", "lastname": "Doe"}), None),
    )

    index = load_prospects(
        conn, emails=["jane@acme.com", "nobody@acme.com", "jane@acme.com"], domain_roots={"acme.com", "x.io"}
    )
    assert set(index.people) == {"jane@acme.com"}
    assert index.person("jane@acme.com") == {
        "jobtitle": "CTO",
        "firstname": "Jane",
        "lastname": "Doe",
        "email": "jane@acme.com",
    }
    assert index.person("nobody@acme.com") is None and index.person(None) is None
    assert index.organization("acme.com") == {
        "industry": "Computer Software",
        "numberofemployees": 250,
        "name": "Acme",
        "domain": "www.acme.com",
    }
    assert index.organization("other.org") is None and index.organization(None) is None

    empty = load_prospects(conn, emails=[], domain_roots=())
    assert not empty.people and not empty.organizations


def test_decide_on_what_the_database_holds(conn: psycopg.Connection[Any]) -> None:
    """The pieces together: seeded mappings, a prospect organization, a pulled company."""
    seed_defaults(conn, load_defaults())
    conn.execute(
        "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)"
        " VALUES ('Acme', 'acme.com', 'acme.com', %s)",
        (Jsonb({"industry": "Computer Software", "numberofemployees": 250.0, "city": "Lyon"}),),
    )
    definitions = {
        "industry": PropertyDefinition(
            "industry", "enumeration", "select", ("COMPUTER_SOFTWARE",), ("Computer Software",)
        ),
        "numberofemployees": PropertyDefinition("numberofemployees", "number", "number"),
        "city": PropertyDefinition("city", "string"),
        "phone": PropertyDefinition("phone", "string", "phonenumber"),
    }
    prospect = load_prospects(conn, emails=(), domain_roots=["acme.com"]).organization("acme.com")
    current = {"name": "Acme", "domain": "acme.com", "city": "Paris", "numberofemployees": "12"}
    outcome = decide(load_mappings(conn).active("account"), current, prospect, definitions)
    assert outcome.decisions == (
        MappingDecision("industry", "industry", "autofill", None, "COMPUTER_SOFTWARE"),
        MappingDecision("numberofemployees", "numberofemployees", "overwrite", "12", "250"),
    )
    assert outcome.rejected == ()
