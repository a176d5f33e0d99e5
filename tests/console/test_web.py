"""The console over HTTP against a real PostgreSQL: sign-in, roles, CSRF, headers, every page and
form, portals, and bad input answered with a clear error while nothing changes."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from hubsync.console.users import remove_user
from hubsync.matching.duplicates import flag_duplicates
from hubsync.platform import create_record, get_settings, update_record
from hubsync.storage.portal_scope import enter_portal
from tests.console.support import (
    ADMIN,
    VIEWER,
    console_settings,
    csrf_of,
    post_form,
    prepare_database,
    serving,
    sign_in,
)

pytestmark = pytest.mark.integration

PAGES = ("/", "/settings", "/mappings", "/errors", "/duplicates", "/records")


@pytest.fixture
def db(fresh_database_url: str) -> str:
    prepare_database(fresh_database_url)
    return fresh_database_url


@pytest.fixture
def console(db: str) -> Iterator[str]:
    with serving(console_settings(db)) as url:
        yield url


def _sql(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _error(
    url: str,
    record_id: int,
    category: str = "VALIDATION_ERROR",
    object_type: str = "contact",
    last_seen: str = "now()",
) -> int:
    rows = _sql(
        url,
        "INSERT INTO hubsync.push_errors (object_type, record_id, operation, http_status, category, message,"
        f" correlation_id, last_seen) VALUES (%s, %s, 'create', 400, %s, %s, %s, {last_seen}) RETURNING id",
        (
            object_type,
            record_id,
            category,
            f"Property values were not valid ({category})",
            f"corr-{record_id}",
        ),
    )
    return int(rows[0][0])


# ---- sign-in and sessions -------------------------------------------------------------------------


def test_pages_need_a_sign_in_and_wrong_passwords_are_refused_alike(console: str) -> None:
    anonymous = httpx.Client(base_url=console)
    for page in PAGES:
        answer = anonymous.get(page)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", page
    assert anonymous.post("/settings", data={"push_scope": "manual"}).status_code == 401
    login = anonymous.get("/login")
    token = login.text.split('name="token" value="')[1].split('"')[0]
    for user, password in ((ADMIN[0], "wrong-password-123"), ("nobody", "wrong-password-123")):
        answer = anonymous.post("/login", data={"token": token, "username": user, "password": password})
        assert answer.status_code == 401 and "Wrong user name or password." in answer.text
        assert "hubsync_console=" not in answer.headers.get("set-cookie", "")
        token = answer.text.split('name="token" value="')[1].split('"')[0]  # each form has its own
    # a sign-in form without its token (another site posting it) is refused
    fresh = httpx.Client(base_url=console)
    answer = fresh.post("/login", data={"token": token, "username": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 403 and "expired" in answer.text


def test_the_sign_in_form_stays_valid_when_the_page_is_loaded_again(console: str) -> None:
    """A browser loads the sign-in page again behind the form (a favicon request redirected there,
    a second tab): the form on screen must still sign in."""
    client = httpx.Client(base_url=console)
    first = client.get("/login").text.split('name="token" value="')[1].split('"')[0]
    assert client.get("/favicon.ico").headers["location"] == "/login"
    client.get("/login")
    answer = client.post("/login", data={"token": first, "username": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_password_guessing_is_throttled_per_user(console: str) -> None:
    client = httpx.Client(base_url=console)
    token = client.get("/login").text.split('name="token" value="')[1].split('"')[0]

    def attempt(user: str, password: str) -> httpx.Response:
        return client.post("/login", data={"token": token, "username": user, "password": password})

    for _ in range(5):
        assert attempt(ADMIN[0], "wrong-password-123").status_code == 401
    refused = attempt(ADMIN[0], ADMIN[1])  # the right password, refused without being checked
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert attempt(VIEWER[0], VIEWER[1]).status_code == 303  # another user signs in as usual


def test_guesses_sent_in_parallel_are_throttled_too(console: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = httpx.Client(base_url=console)
    page = client.get("/login")
    token = page.text.split('name="token" value="')[1].split('"')[0]
    nonce = page.cookies["hubsync_console_login"]

    def guess(i: int) -> int:
        return httpx.post(
            f"{console}/login",
            data={"token": token, "username": VIEWER[0], "password": f"guess-{i:08d}!"},
            cookies={"hubsync_console_login": nonce},
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(guess, range(16)))
    assert codes.count(401) == 5 and codes.count(429) == 11


def test_odd_bytes_in_cookies_tokens_and_filters_are_refused_cleanly(console: str) -> None:
    client = sign_in(console)
    raw = httpx.get(f"{console}/", headers={"Cookie": "hubsync_console=abc.\u00e9\u00e9".encode()})
    assert raw.status_code == 303  # no session, so to the sign-in page (not a 500)
    assert client.post("/settings", data={"csrf": "\u00e9", "push_scope": "all"}).status_code == 403
    login = httpx.Client(base_url=console)
    login.get("/login")
    assert login.post("/login", data={"token": "\u00e9", "username": "a", "password": "b"}).status_code == 403
    for path in ("/errors?category=%00", "/errors.csv?category=a%01b"):
        answer = client.get(path)
        assert answer.status_code == 400 and "control characters" in answer.text, path
    answer = post_form(client, "/records", {"field": "hubspot_id", "q": "12\x00"}, page="/records")
    assert answer.status_code == 400 and "control characters" in answer.text


def test_a_session_cookie_is_httponly_strict_and_secure_when_configured(db: str) -> None:
    with serving(console_settings(db, console_secure_cookies=True)) as url:
        page = httpx.get(f"{url}/login")
        nonce = page.cookies["hubsync_console_login"]  # a client sends Secure cookies over https only
        assert "secure" in page.headers["set-cookie"].lower()
        token = page.text.split('name="token" value="')[1].split('"')[0]
        answer = httpx.post(
            f"{url}/login",
            data={"token": token, "username": ADMIN[0], "password": ADMIN[1]},
            headers={"Cookie": f"hubsync_console_login={nonce}"},
        )
        assert answer.status_code == 303, answer.text
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("hubsync_console="))
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite", "path", "max-age"} <= flags
        assert "samesite=strict" in cookie.lower()


def test_every_page_renders_with_strict_headers_for_both_roles(console: str) -> None:
    for user in (ADMIN, VIEWER):
        client = sign_in(console, user)
        for page in PAGES:
            answer = client.get(page)
            assert answer.status_code == 200, (page, answer.text[-500:])
            assert f"{user[0]} · {'admin' if user is ADMIN else 'viewer'}" in answer.text
            assert "default-src 'none'" in answer.headers["content-security-policy"]
            assert (
                answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
            )
        assert client.get("/static/console.css").status_code == 200


def test_a_removed_user_is_signed_out_at_the_next_request(console: str, db: str) -> None:
    client = sign_in(console, VIEWER)
    assert client.get("/").status_code == 200
    with psycopg.connect(db, autocommit=True) as conn:
        assert remove_user(conn, VIEWER[0])
    answer = client.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_signing_out_ends_the_session(console: str) -> None:
    client = sign_in(console)
    assert post_form(client, "/logout", {}).status_code == 303
    assert client.get("/").headers["location"] == "/login"


# ---- CSRF and roles -------------------------------------------------------------------------------


def test_forms_without_this_sessions_token_or_from_another_site_are_refused(console: str, db: str) -> None:
    client = sign_in(console)
    other = sign_in(console)
    stale = csrf_of(other.get("/settings").text)
    own = csrf_of(client.get("/settings").text)
    form = {"push_scope": "manual"}
    assert client.post("/settings", data=form).status_code == 403
    assert client.post("/settings", data={**form, "csrf": stale}).status_code == 403
    answer = client.post("/settings", data={**form, "csrf": own}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "another site" in answer.text
    with psycopg.connect(db) as conn:
        assert get_settings(conn).sync.push_scope.value == "all"


def test_a_viewer_is_refused_every_admin_action_and_nothing_changes(console: str, db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        a = create_record(conn, "contact", {"email": "pat@acme.com", "firstname": "Pat"})
        b = create_record(conn, "contact", {"email": "PAT@acme.com", "firstname": "Pat"})
    error_id = _error(db, a)
    viewer = sign_in(console, VIEWER)
    forms = {
        "/settings": {"push_scope": "manual"},
        "/mappings": {"object_type": "contact", "property": "jobtitle", "mode": "overwrite"},
        f"/errors/{error_id}/retry": {},
        "/errors/retry": {"status": "unresolved"},
        "/duplicates/dismiss": {"object_type": "contact", "record_a": str(a), "record_b": str(b)},
    }
    for path, form in forms.items():
        answer = post_form(viewer, path, form, page="/errors")
        assert answer.status_code == 403 and "only an admin" in answer.text, path
    assert _sql(db, "SELECT status FROM hubsync.push_errors WHERE id = %s", (error_id,)) == [("open",)]
    assert _sql(db, "SELECT count(*) FROM hubsync.potential_duplicates WHERE resolved_at IS NULL")[0][0] >= 1
    assert _sql(db, "SELECT mode FROM hubsync.field_mappings WHERE hubspot_property = 'jobtitle'") != [
        ("overwrite",)
    ]
    # and the pages show no admin controls
    assert "Retry" not in viewer.get("/errors").text.split("<table")[1]
    assert "Not a duplicate" not in viewer.get("/duplicates").text


# ---- settings and mappings ------------------------------------------------------------------------


def test_settings_change_as_the_cli_does_and_bad_values_change_nothing(console: str, db: str) -> None:
    client = sign_in(console)
    answer = post_form(
        client, "/settings", {"push_scope": "manual"}, page="/settings"
    )  # push_enabled unchecked
    assert answer.status_code == 303
    page = client.get("/settings").text
    assert "Settings saved" in page and "always on" in page.lower()
    with psycopg.connect(db) as conn:
        sync = get_settings(conn).sync
        assert (sync.push_enabled, sync.push_scope.value) == (False, "manual")
    post_form(client, "/settings", {"push_enabled": "on", "push_scope": "everything"}, page="/settings")
    assert "Not saved: push.scope takes all or manual" in client.get("/settings").text
    with psycopg.connect(db) as conn:  # all or nothing: push.enabled was not turned back on either
        assert get_settings(conn).sync.push_enabled is False


def test_a_mapping_is_changed_added_and_refused_with_the_reason(console: str, db: str) -> None:
    client = sign_in(console)
    post_form(
        client,
        "/mappings",
        {"object_type": "contact", "property": "jobtitle", "mode": "overwrite"},
        "/mappings",
    )
    page = client.get("/mappings").text
    assert "Saved mapping.contact.jobtitle = overwrite" in page
    assert _sql(
        db,
        "SELECT mode FROM hubsync.field_mappings WHERE object_type = 'contact' AND hubspot_property = 'jobtitle'",
    ) == [("overwrite",)]
    post_form(
        client,
        "/mappings",
        {"object_type": "contact", "property": "Job Title", "mode": "autofill"},
        "/mappings",
    )
    assert "is not a HubSpot property name" in client.get("/mappings").text
    post_form(
        client, "/mappings", {"object_type": "deal", "property": "amount", "mode": "autofill"}, "/mappings"
    )
    assert "Not saved: mapping keys are mapping.contact.PROPERTY" in client.get("/mappings").text
    assert _sql(
        db, "SELECT count(*) FROM hubsync.field_mappings WHERE hubspot_property IN ('Job Title', 'amount')"
    ) == [(0,)]


def test_the_mapping_page_shows_types_and_explains_refused_values(console: str, db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        rid = create_record(conn, "contact", {"email": "zed@acme.com"})
        conn.execute(
            "INSERT INTO hubsync.activity_log (object_type, record_id, action, field, after, rule, detail)"
            " VALUES ('contact', %s, 'value_rejected', 'date_of_birth', '\"soon\"', 'autofill',"
            ' \'{"reason": "not a YYYY-MM-DD date"}\')',
            (rid,),
        )
        conn.execute(
            "INSERT INTO hubsync.field_mappings (object_type, hubspot_property, platform_field, mode)"
            " VALUES ('contact', 'date_of_birth', 'date_of_birth', 'autofill') ON CONFLICT DO NOTHING"
        )
    page = sign_in(console).get("/mappings").text
    row = page.split('id="mapping-contact-date_of_birth"')[1].split("</tr>")[0]
    assert "<td>date" in row and "another time of day is refused" in row
    assert f"record {rid}</a>: not a YYYY-MM-DD date" in row


# ---- error log ------------------------------------------------------------------------------------


def test_the_error_log_filters_exports_and_retries(console: str, db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        ids = [create_record(conn, "contact", {"email": f"e{i}@acme.com"}) for i in range(3)]
        account = create_record(conn, "account", {"name": "Acme", "domain": "acme.com"})
    e1 = _error(db, ids[0])
    e2 = _error(db, ids[1], category="RATE_LIMITS")
    e3 = _error(db, account, object_type="account")
    old = _error(db, ids[2], last_seen="now() - interval '3 days'")
    client = sign_in(console)

    def shown(query: str) -> set[int]:
        page = client.get(f"/errors?{query}")
        assert page.status_code == 200, page.text
        return {i for i in (e1, e2, e3, old) if f'id="error-{i}"' in page.text}

    assert shown("") == {e1, e2, e3, old}
    assert shown("category=RATE_LIMITS") == {e2}
    assert shown("object=account") == {e3}
    assert shown(
        "since=" + _sql(db, "SELECT to_char(now() - interval '1 day', 'YYYY-MM-DD\"T\"HH24:MI')")[0][0]
    ) == {e1, e2, e3}
    page = client.get("/errors").text
    assert "Property values were not valid (VALIDATION_ERROR)" in page and f"corr-{ids[0]}" in page
    for bad, message in (
        ("status=gone", "status: one of"),
        ("object=deal", "object: contact or account"),
        ("since=yesterday", "since: expected a date"),
        ("since=2026-02-01&until=2026-01-01", "since is after until"),
    ):
        answer = client.get(f"/errors?{bad}")
        assert answer.status_code == 400 and message in answer.text, bad

    formula = _error(db, account, category="FORMULA", object_type="account")
    _sql(db, "UPDATE hubsync.push_errors SET message = '=HYPERLINK(\"http://x\")' WHERE id = %s", (formula,))
    cells = list(csv.reader(io.StringIO(client.get("/errors.csv?category=FORMULA").text)))
    assert cells[1][9] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    _sql(db, "DELETE FROM hubsync.push_errors WHERE id = %s", (formula,))
    exported = client.get("/errors.csv?object=contact")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {int(r["id"]) for r in rows} == {e1, e2, old}
    assert {r["correlation_id"] for r in rows} == {f"corr-{i}" for i in ids}

    # retry one: it is retrying and its record is queued for a manual push
    post_form(client, f"/errors/{e1}/retry", {"status": "unresolved"}, page="/errors")
    assert "its record is queued for a push" in client.get("/errors").text
    assert _sql(db, "SELECT status FROM hubsync.push_errors WHERE id = %s", (e1,)) == [("retrying",)]
    assert _sql(
        db,
        "SELECT count(*) FROM hubsync.outbox WHERE type = 'PUSH_REQUESTED' AND payload->>'cause_event' = %s",
        (f"push_error:{e1}",),
    ) == [(1,)]
    # retry all matching: the contacts' open errors, not the account's
    post_form(client, "/errors/retry", {"status": "open", "object": "contact"}, page="/errors")
    assert "2 error(s) queued for a push" in client.get("/errors").text
    assert dict(_sql(db, "SELECT id, status FROM hubsync.push_errors")) == {
        e1: "retrying",
        e2: "retrying",
        e3: "open",
        old: "retrying",
    }
    # a resolved one is said to be resolved, not retried
    _sql(db, "UPDATE hubsync.push_errors SET status = 'resolved' WHERE id = %s", (e3,))
    post_form(client, f"/errors/{e3}/retry", {}, page="/errors")
    assert f"Error {e3} is resolved already" in client.get("/errors").text
    assert f'id="error-{e3}"' not in client.get("/errors").text  # resolved errors leave the default view


# ---- duplicates and records -----------------------------------------------------------------------


def test_a_pair_is_shown_side_by_side_and_dismissed_for_good(console: str, db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        a = create_record(
            conn,
            "contact",
            {"email": "sam@acme.com", "firstname": "Sam", "lastname": "Lee", "company": "Acme"},
            source="import",
        )
        b = create_record(
            conn,
            "contact",
            {"email": "Sam@Acme.com", "firstname": "Sam", "lastname": "Lee", "company": "Acme Inc."},
        )
    assert {r[0] for r in _sql(db, "SELECT signal FROM hubsync.potential_duplicates")} == {
        "email",
        "name_company",
    }
    client = sign_in(console)
    page = client.get("/duplicates").text
    assert page.count(f'id="pair-{a}-{b}"') == 1  # one entry per pair, with both reasons
    pair = page.split(f'id="pair-{a}-{b}"')[1].split("</section>")[0]
    assert "the same e-mail address and the same name and company" in pair
    assert "import" in pair and "platform" in pair and "sam@acme.com" in pair and "Sam@Acme.com" in pair
    post_form(
        client,
        "/duplicates/dismiss",
        {"object_type": "contact", "record_a": str(b), "record_b": str(a)},
        page="/duplicates",
    )
    page = client.get("/duplicates").text
    assert "marked not a duplicate" in page and f'id="pair-{a}-{b}"' not in page
    assert sorted(_sql(db, "SELECT signal, resolution, resolved_by FROM hubsync.potential_duplicates")) == [
        ("email", "not_duplicate", ADMIN[0]),
        ("name_company", "not_duplicate", ADMIN[0]),
    ]
    assert _sql(db, "SELECT count(*) FROM hubsync.activity_log WHERE action = 'duplicate_dismissed'") == [
        (2,)
    ]
    with psycopg.connect(db) as conn:  # detection runs again over both records: the pair stays dismissed
        assert flag_duplicates(conn, "contact", [a, b]) == []
        conn.commit()
    assert f'id="pair-{a}-{b}"' not in client.get("/duplicates").text
    # dismissing it again says so; nothing was merged at any point
    post_form(
        client,
        "/duplicates/dismiss",
        {"object_type": "contact", "record_a": str(a), "record_b": str(b)},
        page="/duplicates",
    )
    assert "no open potential duplicate" in client.get("/duplicates").text
    assert _sql(db, "SELECT count(*) FROM hubsync.contacts WHERE merged_into_id IS NOT NULL") == [(0,)]


def test_a_dismissed_pair_is_not_flagged_again_by_another_signal(console: str, db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        a = create_record(conn, "contact", {"email": "kai@acme.com", "firstname": "Kai", "company": "Acme"})
        b = create_record(conn, "contact", {"email": "KAI@acme.com", "firstname": "Kai", "company": "Acme"})
    assert {r[0] for r in _sql(db, "SELECT signal FROM hubsync.potential_duplicates")} == {"email"}
    post_form(
        sign_in(console),
        "/duplicates/dismiss",
        {"object_type": "contact", "record_a": str(a), "record_b": str(b)},
        page="/duplicates",
    )
    with psycopg.connect(db, autocommit=True) as conn:  # now their names match too: a new signal
        update_record(conn, a, {"lastname": "Ito"})
        update_record(conn, b, {"lastname": "Ito"})
    assert _sql(db, "SELECT count(*) FROM hubsync.potential_duplicates WHERE resolved_at IS NULL") == [(0,)]


def test_records_are_found_by_posted_searches_and_show_their_lineage(
    console: str, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        rid = create_record(
            conn,
            "contact",
            {"email": "noor@globex.com", "firstname": "Noor", "lastname": "Haddad", "company": "Globex Inc."},
        )
        update_record(conn, rid, {"lastname": "Haddad-Smith"})
        account = create_record(conn, "account", {"name": "Globex", "domain": "globex.com"})
        _sql(
            db, "UPDATE hubsync.contacts SET hubspot_id = '9001', crm_status = 'synced' WHERE id = %s", (rid,)
        )
    client = sign_in(console)
    caplog.set_level(logging.INFO)
    for field, text, expected in (
        ("email", " NOOR@globex.com", {rid}),
        ("name", "noor haddad-smith", {rid}),
        ("name", "GLOBEX", {account}),
        ("domain", "www.globex.com", {rid, account}),
        ("hubspot_id", "9001", {rid}),
    ):
        answer = post_form(client, "/records", {"field": field, "q": text}, page="/records")
        assert answer.status_code == 200, answer.text
        found = {r for r in (rid, account) if f'<a href="/records/{r}">{r}</a>' in answer.text}
        assert found == expected, (field, text)
    answer = post_form(client, "/records", {"field": "email", "q": "not an address"}, page="/records")
    assert answer.status_code == 400 and "is not an e-mail address" in answer.text
    assert not any("noor" in r.getMessage().lower() for r in caplog.records), "a search reached a log"

    page = client.get(f"/records/{rid}").text
    assert "linked to HubSpot" in page
    lastname = page.split('id="field-lastname"')[1].split("</tr>")[0]
    assert "Haddad-Smith" in lastname and "updated" in lastname and "platform" in lastname
    assert "created_in_platform" in page.split('id="activity"')[1]
    firstname = page.split('id="field-firstname"')[1].split("</tr>")[0]  # set when it was made, not since
    assert "Noor" in firstname and "created_in_platform" in firstname
    assert client.get("/records/999999").status_code == 404


# ---- portals --------------------------------------------------------------------------------------


def test_each_portal_has_its_own_pages_and_the_switcher_moves_between_them(console: str, db: str) -> None:
    _sql(
        db,
        "INSERT INTO hubsync.portals (portal_id, hub_domain) VALUES (101, 'one.example'), (202, 'two.example')",
    )
    with psycopg.connect(db) as conn:
        enter_portal(conn, 101)
        in_one = create_record(conn, "contact", {"email": "one@acme.com"})
        conn.commit()
        enter_portal(conn, 202)
        in_two = create_record(conn, "contact", {"email": "two@acme.com"})
        conn.commit()
    client = sign_in(console)
    assert 'id="portal-switcher"' in client.get("/").text
    post_form(client, "/portal", {"portal": "101"})
    assert "portal 101" in client.get("/").text
    assert client.get(f"/records/{in_one}").status_code == 200
    assert client.get(f"/records/{in_two}").status_code == 404
    found = post_form(client, "/records", {"field": "email", "q": "two@acme.com"}, page="/records").text
    assert 'id="no-results"' in found
    post_form(client, "/portal", {"portal": "202"})
    assert client.get(f"/records/{in_two}").status_code == 200
    assert post_form(client, "/portal", {"portal": "303"}).status_code == 400


# ---- a trusted reverse proxy ----------------------------------------------------------------------


def test_behind_a_trusted_proxy_its_header_names_the_user(db: str) -> None:
    settings = console_settings(db, console_auth="proxy", console_proxy_admins="ada")
    with serving(settings) as url:
        admin = httpx.Client(base_url=url, headers={"X-Forwarded-User": "ada"})
        assert "ada · admin" in admin.get("/").text
        viewer = httpx.Client(base_url=url, headers={"X-Forwarded-User": "someone"})
        assert "someone · viewer" in viewer.get("/").text
        assert post_form(viewer, "/settings", {"push_scope": "manual"}).status_code == 403
        assert httpx.get(f"{url}/").status_code == 401
        # another user's header on the same browser's cookie is that other user, not the cookie's
        viewer.headers["X-Forwarded-User"] = "ada"
        assert "ada · admin" in viewer.get("/").text
    untrusted = console_settings(db, console_auth="proxy", console_trusted_proxies="10.0.0.0/8")
    with serving(untrusted) as url:
        assert httpx.get(f"{url}/", headers={"X-Forwarded-User": "ada"}).status_code == 401


def test_requests_and_sign_ins_are_measured_by_route_never_by_data(console: str, db: str) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    ok_before = sample("hubsync_console_sign_ins_total", outcome="ok")
    pages_before = sample(
        "hubsync_console_request_seconds_count", route="/records/{record_id}", method="GET", status="200"
    )
    with psycopg.connect(db, autocommit=True) as conn:
        rid = create_record(conn, "contact", {"email": "metric@acme.com"})
    client = sign_in(console)
    client.get(f"/records/{rid}")
    assert sample("hubsync_console_sign_ins_total", outcome="ok") == ok_before + 1
    assert (
        sample(
            "hubsync_console_request_seconds_count", route="/records/{record_id}", method="GET", status="200"
        )
        == pages_before + 1
    )
    text = "\n".join(
        f"{s.labels}" for f in REGISTRY.collect() for s in f.samples if s.name.startswith("hubsync_console")
    )
    assert "metric@acme.com" not in text and f"/records/{rid}" not in text


def test_the_overview_survives_odd_and_slow_components(db: str) -> None:
    """A component answering JSON of another shape, or trickling its answer, is shown as such; the
    page neither fails nor waits for it."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Odd(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.server.server_port == slow.server_port:  # type: ignore[attr-defined]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                for _ in range(30):  # a byte every 0.2 s: each read is quick, the whole is not
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            body = b'{"checks": [1, 2]}' if self.path == "/readyz" else b"not prometheus text {"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    odd, slow = ThreadingHTTPServer(("127.0.0.1", 0), Odd), ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    for server in (odd, slow):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        components = f"odd=http://127.0.0.1:{odd.server_port},slow=http://127.0.0.1:{slow.server_port}"
        with serving(
            console_settings(
                db,
                console_components=components,
                console_prometheus_url=f"http://127.0.0.1:{odd.server_port}",
            )
        ) as url:
            client = sign_in(url)
            started = time.monotonic()
            page = client.get("/")
            took = time.monotonic() - started
    finally:
        odd.shutdown()
        slow.shutdown()
    assert page.status_code == 200, page.text[-600:]
    table = page.text.split('id="components"')[1].split("</table>")[0]
    assert '<td>slow</td>\n<td class="bad">unreachable</td>' in table
    assert "Prometheus did not answer" in page.text
    assert took < 5, f"the overview waited {took:.1f} s for a trickling component"
