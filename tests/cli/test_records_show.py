"""``hubsync records show`` finds a record by platform id, HubSpot id or e-mail, with its activity."""

from __future__ import annotations

import psycopg
import pytest

from tests.cli.test_records_cli import db, invoke  # noqa: F401 - the db fixture
from tests.platform.helpers import pull

pytestmark = pytest.mark.integration


def test_found_by_platform_id_hubspot_id_or_email_with_its_activity(db: str) -> None:  # noqa: F811
    with psycopg.connect(db) as conn:
        contact = pull(
            conn,
            "501",
            {"email": "Ada@Example.com", "firstname": "Ada", "hs_additional_emails": "ada@work.example"},
        )
        account = pull(conn, "501", {"name": "Analytical Engines", "domain": "engines.example"}, company=True)
    by_id = invoke("records", "show", str(contact), "--json")
    assert by_id["id"] == contact and by_id["hubspot_id"] == "501"
    # the activity log comes with it: the pull that created it
    assert by_id["activity"] and by_id["activity"][0]["cause_source"] is not None
    assert {e["action"] for e in by_id["activity"]} >= {"created_from_hubspot"}

    for email in ("ada@example.com", " ADA@example.com ", "ada@work.example"):
        assert invoke("records", "show", "--email", email, "--json")["id"] == contact
    by_hubspot = invoke("records", "show", "--hubspot-id", "501", "--kind", "account", "--json")
    assert by_hubspot["id"] == account and by_hubspot["object_type"] == "account"

    # a contact and a company may share a HubSpot id: the command says so and asks for --kind
    both = invoke("records", "show", "--hubspot-id", "501", code=2)
    assert "2 records have HubSpot id 501" in both.output and "--kind" in both.output
    assert invoke("records", "show", "--hubspot-id", "501", "--kind", "contact", "--json")["id"] == contact

    table = invoke("records", "show", "--email", "ada@example.com")
    assert "Activity of record" in table.output and "created_from_hubspot" in table.output
    quiet = invoke("records", "show", str(contact), "--activity", "0", "--json")
    assert quiet["activity"] == []


def test_nothing_found_and_bad_usage(db: str) -> None:  # noqa: F811
    missing = invoke("records", "show", "--email", "nobody@example.com", code=1)
    assert "no record has e-mail nobody@example.com" in missing.output
    assert "no record has HubSpot id 9" in invoke("records", "show", "--hubspot-id", "9", code=1).output
    assert "one of them" in invoke("records", "show", code=2).output
    assert "one of them" in invoke("records", "show", "5", "--email", "a@b.example", code=2).output
    assert "no contact or account" in invoke("records", "show", "999999", code=1).output
