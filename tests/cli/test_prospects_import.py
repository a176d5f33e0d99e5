"""``hubsync prospects import FILE.csv`` and ``hubsync prospects show ID`` against PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.cli.test_records_cli import db, invoke  # noqa: F401 - the db fixture
from tests.platform.helpers import pull

pytestmark = pytest.mark.integration

GOOD = """email,first_name,last_name,organization,domain,jobtitle,organization.industry
ada@engines.co.uk,Ada,Lovelace,Analytical Engines,https://www.engines.co.uk/about,Countess,COMPUTER_SOFTWARE
Charles@Engines.co.uk,Charles,Babbage,,engines.co.uk,,
grace@navy.org,Grace,Hopper,US Navy,navy.org,Rear Admiral,
,,,Unused Co,unused.net,,MACHINERY
"""


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM hubsync.prospect_people), (SELECT count(*) FROM hubsync.prospect_organizations)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_import_loads_people_and_organizations_and_show_says_which_crm_record(
    db: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    with psycopg.connect(db) as conn:
        contact = pull(conn, "901", {"email": "grace@navy.org", "firstname": "Grace"})
    path = tmp_path / "prospects.csv"
    path.write_text(GOOD)
    report = invoke("prospects", "import", str(path), "--json")
    assert report == {"people": 3, "organizations": 3, "people_in_crm": 1, "organizations_in_crm": 0}
    assert _counts(db) == (3, 3)

    people = {p["email"]: p for p in invoke("prospects", "people", "--json")}
    assert set(people) == {"ada@engines.co.uk", "charles@engines.co.uk"}  # grace is in the CRM
    ada = invoke("prospects", "show", str(people["ada@engines.co.uk"]["id"]), "--json")
    assert ada["in_crm"] is False and ada["crm_record"] is None
    assert ada["attributes"] == {"jobtitle": "Countess"}
    org = invoke("prospects", "show", str(ada["organization_id"]), "--organization", "--json")
    assert (org["name"], org["domain_root"]) == ("Analytical Engines", "engines.co.uk")
    assert org["attributes"] == {"industry": "COMPUTER_SOFTWARE"}

    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT id FROM hubsync.prospect_people WHERE email_normalized = 'grace@navy.org'"
        ).fetchone()
    assert row is not None
    grace = invoke("prospects", "show", str(row[0]), "--json")
    assert grace["in_crm"] is True
    assert grace["crm_record"]["record_id"] == contact and grace["crm_record"]["hubspot_id"] == "901"
    text = invoke("prospects", "show", str(row[0]))
    assert f"contact {contact}" in text.output and "HubSpot 901" in text.output

    # loading again updates the same rows
    invoke("prospects", "import", str(path))
    assert _counts(db) == (3, 3)
    assert "no prospect person has id 424242" in invoke("prospects", "show", "424242", code=1).output


def test_a_file_with_bad_rows_loads_nothing_and_names_each(db: str, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "bad.csv"
    path.write_text(
        "email,first_name,domain\n"
        "ok@fine.com,Ok,fine.com\n"
        "not-an-address,Bad,\n"
        ",,\n"
        "dup@fine.com,One,\n"
        "DUP@fine.com,Two,\n"
        "x@fine.com,X,localhost\n"
    )
    result = invoke("prospects", "import", str(path), code=2)
    out = result.output
    assert "line 3: email 'not-an-address' is not an e-mail address" in out
    assert "line 4: neither an email nor a domain" in out
    assert "line 6: dup@fine.com is also on line 5" in out
    assert "line 7: domain 'localhost' names no registrable domain" in out
    assert "nothing loaded" in out
    assert _counts(db) == (0, 0)

    no_keys = tmp_path / "nokeys.csv"
    no_keys.write_text("first_name,last_name\nAda,Lovelace\n")
    assert (
        "neither an email nor a domain column" in invoke("prospects", "import", str(no_keys), code=2).output
    )
    assert invoke("prospects", "import", str(tmp_path / "missing.csv"), code=2).exit_code == 2
    assert invoke("prospects", "--json") == []
