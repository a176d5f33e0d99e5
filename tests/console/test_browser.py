"""The console in a real browser (Debian's chromium, headless, through chromium-driver) against the
whole pipeline: ``hubsync run`` with the HubSpot sandbox, Kafka and PostgreSQL, ``hubsync console
serve`` as its own process, and a real Prometheus scraping ``hubsync run`` for the overview's charts.

Each test takes a screenshot of every page it visits (``.hubsync/screenshots``, or
``HUBSYNC_SCREENSHOT_DIR``); a few of them are in docs/console.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from hubsync._runtime.processes import free_port
from hubsync.testing.databases import fresh_database
from tests.connectors.hubspot.client_support import TOKEN
from tests.console.browser import (
    ConsoleProcess,
    chromium,
    hubsync,
    notice,
    prometheus,
    reload_until,
    screenshot,
    sign_in_browser,
    text_of,
)
from tests.console.support import ADMIN, SECRET, VIEWER
from tests.ingest.worker_harness import scalar
from tests.test_runner import RunProcess, run_args, sandbox_for_run

pytestmark = pytest.mark.integration

PROSPECTS = """email,first_name,last_name,organization,domain,jobtitle
lin@initech.com,Lin,Okafor,Initech,initech.com,Head of Revenue Operations
"""
MAX_LASTNAME = 40


@dataclass
class Stack:
    env: dict[str, str]
    database_url: str
    console_url: str
    api: httpx.Client


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap_servers: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with (
        fresh_database(database_url) as url,
        sandbox_for_run(kafka_bootstrap_servers, url) as (sandbox, setup, port),
        httpx.Client(
            base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as api,
    ):
        env = dict(setup.env)
        # what an operator does first, with the CLI: console users, prospects, a mapping turned off
        hubsync(
            env,
            "console",
            "users",
            "add",
            ADMIN[0],
            "--role",
            "admin",
            "--password-stdin",
            stdin=ADMIN[1] + "\n",
        )
        hubsync(env, "console", "users", "add", VIEWER[0], "--password-stdin", stdin=VIEWER[1] + "\n")
        prospects = tmp_path_factory.mktemp("prospects") / "prospects.csv"
        prospects.write_text(PROSPECTS)
        hubsync(env, "prospects", "import", str(prospects))
        hubsync(env, "settings", "set", "mapping.contact.jobtitle", "none", "--no-wait")
        api.post(
            "/_sandbox/validation-rules",
            json={
                "object_type": "contact",
                "property": "lastname",
                "kind": "max_length",
                "max_length": MAX_LASTNAME,
                "message": f"Last names are at most {MAX_LASTNAME} characters here",
            },
        ).raise_for_status()
        run = RunProcess(env, name="run", args=run_args(port)).start()
        try:
            metrics = run.metrics_url(timeout=90).removeprefix("http://").removesuffix("/metrics")
            run.wait_until(lambda: "webhook receiver on http://" in run.output(), "the receiver", timeout=60)
            with prometheus([metrics]) as prometheus_url:
                console_port = free_port()
                console = ConsoleProcess(
                    {
                        **env,
                        "HUBSYNC_CONSOLE_AUTH": "password",
                        "HUBSYNC_CONSOLE_SESSION_SECRET": SECRET,
                        "HUBSYNC_CONSOLE_COMPONENTS": f"run=http://{metrics}",
                        "HUBSYNC_CONSOLE_PROMETHEUS_URL": prometheus_url,
                    },
                    name="console",
                    args=("--port", str(console_port)),
                ).start()
                try:
                    console.wait_until(
                        lambda: "console on http://" in console.output(), "the console", timeout=60
                    )
                    yield Stack(env, url, f"http://127.0.0.1:{console_port}", api)
                finally:
                    console.close()
        finally:
            run.close()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def test_an_admin_signs_in_and_the_overview_shows_components_quota_and_charts(
    stack: Stack, browser: WebDriver
) -> None:
    sign_in_browser(browser, stack.console_url, *ADMIN)
    assert text_of(browser, "signed-in-as") == f"{ADMIN[0]} · admin"
    # the run's components answer /readyz, HubSpot's daily quota was read, Prometheus has samples
    reload_until(
        browser,
        f"{stack.console_url}/",
        lambda d: (
            "ready" in text_of(d, "components")
            and text_of(d, "quota") != "unknown"
            and d.find_elements(By.CSS_SELECTOR, "#charts svg polyline")
        ),
        "the overview with the run's health, quota and charts",
        timeout=90,
    )
    assert text_of(browser, "quota").replace(",", "").split()[0].isdigit()
    assert "run" in text_of(browser, "components")
    screenshot(browser, "overview")


def test_a_mapping_changed_in_the_console_autofills_a_pulled_record_in_hubspot(
    stack: Stack, browser: WebDriver
) -> None:
    sign_in_browser(browser, stack.console_url, *ADMIN)
    browser.get(f"{stack.console_url}/mappings")
    row = browser.find_element(By.ID, "mapping-contact-jobtitle")
    Select(row.find_element(By.TAG_NAME, "select")).select_by_value("autofill")
    row.find_element(By.TAG_NAME, "button").click()
    assert "Saved mapping.contact.jobtitle = autofill" in notice(browser)
    # the page says when the running worker took it
    reload_until(
        browser,
        f"{stack.console_url}/mappings",
        lambda d: "in effect" in text_of(d, "rollout"),
        "the new mapping in effect on the worker",
    )
    screenshot(browser, "mappings")

    # a contact made in HubSpot without a job title, whose e-mail the prospect database knows
    created = stack.api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "lin@initech.com", "firstname": "Lin"}}
    )
    assert created.status_code == 201, created.text
    hubspot_id = created.json()["id"]

    def autofilled() -> bool:
        got = stack.api.get(f"/crm/v3/objects/contacts/{hubspot_id}", params={"properties": "jobtitle"})
        return bool(got.json()["properties"].get("jobtitle") == "Head of Revenue Operations")

    reload_until(
        browser,
        f"{stack.console_url}/mappings",
        lambda _d: autofilled(),
        "the job title autofilled in HubSpot",
        timeout=90,
    )

    # find it, read its lineage: the job title came from the autofill rule
    browser.get(f"{stack.console_url}/records")
    Select(browser.find_element(By.ID, "field")).select_by_value("email")
    browser.find_element(By.ID, "q").send_keys("LIN@initech.com")
    browser.find_element(By.CSS_SELECTOR, "#record-search button").click()
    # the click returns before the answer's page has loaded: wait for it (CI once read the old page)
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "results"))
    assert "lin@initech.com" not in browser.current_url  # posted: never in a URL
    results = browser.find_element(By.ID, "results")
    assert "lin@initech.com" in results.text
    screenshot(browser, "records")
    results.find_element(By.CSS_SELECTOR, "a").click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "field-jobtitle"))
    jobtitle = browser.find_element(By.ID, "field-jobtitle").text
    assert "Head of Revenue Operations" in jobtitle and "autofill" in jobtitle
    assert "linked to HubSpot" in text_of(browser, "crm-status")
    screenshot(browser, "record")


def test_a_failed_push_retried_from_the_error_log_leaves_it(stack: Stack, browser: WebDriver) -> None:
    sign_in_browser(browser, stack.console_url, *ADMIN)
    email = f"kim-{uuid.uuid4().hex[:6]}@acme.com"
    record_id = int(
        hubsync(
            stack.env,
            "records",
            "create",
            "contact",
            "--set",
            f"email={email}",
            "--set",
            "lastname=" + "K" * 50,
            "--json",
        )
        .split('"id": ')[1]
        .split(",")[0]
    )
    reload_until(
        browser,
        f"{stack.console_url}/errors",
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#errors tbody tr[id^='error-']")
            and f"contact {record_id}" in text_of(d, "errors")
        ),
        "the refused push in the error log",
    )
    row = browser.find_element(By.CSS_SELECTOR, "#errors tbody tr[id^='error-']")
    assert f"Last names are at most {MAX_LASTNAME} characters here" in row.text
    screenshot(browser, "errors")

    # push off in Settings, so only the retry can send the fixed record
    browser.get(f"{stack.console_url}/settings")
    checkbox = browser.find_element(By.ID, "push_enabled")
    if checkbox.is_selected():
        checkbox.click()
    browser.find_element(By.ID, "save-settings").click()
    assert "Settings saved" in notice(browser)
    screenshot(browser, "settings")
    hubsync(stack.env, "records", "update", str(record_id), "--set", "lastname=Kim")

    browser.get(f"{stack.console_url}/errors")
    browser.find_element(By.CSS_SELECTOR, "#errors tbody tr[id^='error-'] button[id^='retry-']").click()
    assert "queued for a push" in notice(browser)
    reload_until(
        browser,
        f"{stack.console_url}/errors",
        lambda d: d.find_elements(By.ID, "no-errors"),
        "the error resolved and gone from the log",
        timeout=90,
    )
    hubspot_id = scalar(
        stack.database_url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", (record_id,)
    )
    pushed = stack.api.get(f"/crm/v3/objects/contacts/{hubspot_id}", params={"properties": "lastname,email"})
    assert pushed.json()["properties"]["lastname"] == "Kim" and pushed.json()["properties"]["email"] == email

    # push back on for the other tests
    browser.get(f"{stack.console_url}/settings")
    browser.find_element(By.ID, "push_enabled").click()
    browser.find_element(By.ID, "save-settings").click()
    assert "Settings saved" in notice(browser)  # saved before the next test's browser moves on


def test_a_duplicate_pair_is_marked_not_a_duplicate(stack: Stack, browser: WebDriver) -> None:
    email = f"dup-{uuid.uuid4().hex[:6]}@globex.com"
    hubsync(stack.env, "records", "create", "contact", "--set", f"email={email}", "--set", "firstname=Dana")
    hubsync(
        stack.env,
        "records",
        "create",
        "contact",
        "--set",
        f"email={email.upper()}",
        "--set",
        "firstname=Dan",
        "--source",
        "import",
    )
    sign_in_browser(browser, stack.console_url, *ADMIN)
    browser.get(f"{stack.console_url}/duplicates")
    pair = next(p for p in browser.find_elements(By.CSS_SELECTOR, "section.pair") if email in p.text)
    assert "the same e-mail address" in pair.text and "import" in pair.text and "platform" in pair.text
    screenshot(browser, "duplicates")
    pair_id = pair.get_attribute("id")
    pair.find_element(By.TAG_NAME, "button").click()
    assert "marked not a duplicate" in notice(browser)
    assert not browser.find_elements(By.ID, pair_id)


def test_a_viewer_reads_every_page_and_is_refused_an_admin_action(stack: Stack, browser: WebDriver) -> None:
    sign_in_browser(browser, stack.console_url, *VIEWER)
    assert text_of(browser, "signed-in-as") == f"{VIEWER[0]} · viewer"
    for page in ("settings", "mappings", "errors", "duplicates", "records"):
        browser.get(f"{stack.console_url}/{page}")
        assert browser.find_elements(By.TAG_NAME, "h1"), page
    assert not browser.find_elements(By.ID, "save-settings")  # no admin controls are offered
    # a viewer who posts the form anyway (with a valid CSRF token) is refused, and nothing changes
    browser.get(f"{stack.console_url}/settings")
    browser.execute_script(
        """
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/settings';
        for (const [name, value] of [['csrf', document.querySelector('input[name=csrf]').value],
                                     ['push_scope', 'manual']]) {
          const input = document.createElement('input');
          input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();
        """
    )
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "error-message"))
    assert "only an admin can do that" in text_of(browser, "error-message")
    screenshot(browser, "viewer-refused")
    assert scalar(
        stack.database_url, "SELECT value #>> '{}' FROM hubsync.settings WHERE key = 'push.scope'"
    ) in (None, "all")
