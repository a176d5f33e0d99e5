"""The start-up refresh of HubSpot property definitions (``hubsync worker``, ``hubsync run``) with the
public app: every active install's definitions, each read with its own token into its own portal's
cache; a portal that fails is reported and the others are refreshed.

Against the sandbox's HubSpot (several portals, OAuth) and PostgreSQL: a custom property made in
one portal is cached for that portal only.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr

from hubsync.cli.worker import refresh_property_definitions
from hubsync.connectors.hubspot.oauth.runtime import portal_store
from hubsync.mapping.definitions import load_definitions
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings
from hubsync.storage.migrate import migrate
from hubsync.storage.portal_scope import enter_portal
from hubsync.storage.portals import TokenPair
from hubsync.storage.token_cipher import new_key
from tests.ingest.worker_harness import WorkerProcess, prepare_worker
from tests.sandbox.oauth_support import (
    create_contact_property,
    install_portals,
    portal_tokens,
    refused_tokens,
)

pytestmark = pytest.mark.integration

CLIENT_ID = "hubsync-definitions"
CLIENT_SECRET = "definitions-app-secret"
REDIRECT = "https://app.example/cb"
A, B, C = 62515, 777001, 888002
PRIVATE_TOKEN = "pat-na1-00000000-0000-0000-0000-definitions00"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    # a private-app token of its own, so a token the sandbox never issued is refused (401)
    config = SandboxConfig(
        access_token=SecretStr(PRIVATE_TOKEN),
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SecretStr(CLIENT_SECRET),
    )
    with ThreadedSandbox(config) as running:
        yield running


def _grant(base_url: str, portal: int) -> TokenPair:
    return portal_tokens(
        base_url, portal, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT
    )


def _cached(url: str, portal: int) -> set[str]:
    with psycopg.connect(url) as conn:
        enter_portal(conn, portal)
        return set(load_definitions(conn, "contact"))


def test_every_portal_gets_its_own_definitions_and_a_failing_one_does_not_stop_the_others(
    fresh_database_url: str, sandbox: ThreadedSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(fresh_database_url)
    settings = Settings(
        database_url=fresh_database_url,
        hubspot_client_id=CLIENT_ID,
        hubspot_client_secret=SecretStr(CLIENT_SECRET),
        hubspot_oauth_redirect_uri=REDIRECT,
        hubspot_base_url=sandbox.base_url,
        token_keys=SecretStr(new_key("k1")),
    )
    grants = {portal: _grant(sandbox.base_url, portal) for portal in (A, B)}
    create_contact_property(sandbox.base_url, grants[A].access_token, "a_score")
    create_contact_property(sandbox.base_url, grants[B].access_token, "b_tier")
    # C's tokens are refused (a grant HubSpot no longer honours): its refresh fails
    install_portals(portal_store(settings), {**grants, C: refused_tokens()})

    refresh_property_definitions(settings)

    in_a, in_b = _cached(fresh_database_url, A), _cached(fresh_database_url, B)
    assert {"email", "jobtitle", "a_score"} <= in_a and "b_tier" not in in_a
    assert {"email", "jobtitle", "b_tier"} <= in_b and "a_score" not in in_b
    assert _cached(fresh_database_url, C) == set()
    err = capsys.readouterr().err
    assert f"could not refresh the property definitions of portal {C}" in err
    assert "of 2 portals" in err


def test_a_private_app_refreshes_its_one_portal(
    fresh_database_url: str, sandbox: ThreadedSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(fresh_database_url)
    settings = Settings(
        database_url=fresh_database_url,
        hubspot_access_token=SecretStr(PRIVATE_TOKEN),
        hubspot_base_url=sandbox.base_url,
    )
    refresh_property_definitions(settings)
    with psycopg.connect(fresh_database_url) as conn:  # the home portal, nothing entered
        assert {"email", "jobtitle"} <= set(load_definitions(conn, "contact"))
    err = capsys.readouterr().err
    assert "cached" in err and "portals" not in err and "could not" not in err


def test_a_running_worker_picks_up_a_custom_property_made_in_hubspot_without_a_restart(
    kafka_bootstrap_servers: str, fresh_database_url: str, sandbox: ThreadedSandbox
) -> None:
    setup = prepare_worker(
        kafka_bootstrap_servers,
        fresh_database_url,
        HUBSPOT_BASE_URL=sandbox.base_url,
        HUBSPOT_ACCESS_TOKEN=PRIVATE_TOKEN,
        HUBSYNC_DEFINITIONS_REFRESH_S="1",
    )
    worker = WorkerProcess(setup.env).start()  # --no-refresh: nothing read at start
    try:
        worker.wait_until(lambda: "metrics on http://" in worker.output(), "the worker to start", timeout=60)
        create_contact_property(sandbox.base_url, PRIVATE_TOKEN, "late_score")

        def cached() -> bool:
            with psycopg.connect(fresh_database_url) as conn:
                return "late_score" in load_definitions(conn, "contact")

        worker.wait_until(cached, "the worker to cache the new property", timeout=60)
        worker.wait_until(
            lambda: "property definitions refreshed: 1 of 1 portals" in worker.output(),
            "the refresh's log line",
        )
        assert worker.stop() == 0
    finally:
        worker.close()
