"""The HubSpot property definition cache: stored, loaded, refreshed from the sandbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hubsync.mapping.definitions import load_definitions, refresh_definitions, store_definitions
from hubsync.mapping.values import PropertyDefinition
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.storage.migrate import migrate
from hubsync.storage.pool import PoolConfig, open_pool
from tests.connectors.hubspot.client_support import make_client, sandbox_fixture

pytestmark = pytest.mark.integration

INDUSTRY = {
    "name": "industry",
    "label": "Industry",
    "type": "enumeration",
    "fieldType": "select",
    "options": [
        {"label": "Computer Software", "value": "COMPUTER_SOFTWARE"},
        {"label": "Banking", "value": "BANKING"},
    ],
}
EMPLOYEES = {"name": "numberofemployees", "type": "number", "fieldType": "number"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    yield from sandbox_fixture()


@pytest.fixture
def url(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    return fresh_database_url


def test_store_and_load(url: str) -> None:
    with psycopg.connect(url) as conn:
        assert store_definitions(conn, "account", [INDUSTRY, EMPLOYEES]) == 2
        assert store_definitions(conn, "contact", [{"name": "jobtitle", "type": "string"}]) == 1
        conn.commit()
    with psycopg.connect(url) as conn:
        account = load_definitions(conn, "account")
        assert account == {
            "industry": PropertyDefinition(
                "industry",
                "enumeration",
                "select",
                ("COMPUTER_SOFTWARE", "BANKING"),
                ("Computer Software", "Banking"),
            ),
            "numberofemployees": PropertyDefinition("numberofemployees", "number", "number"),
        }
        assert set(load_definitions(conn, "contact")) == {"jobtitle"}
        stored = conn.execute(
            "SELECT definition FROM hubsync.property_definitions WHERE name = 'industry'"
        ).fetchone()
        assert stored == (INDUSTRY,)


def test_upsert_replaces_and_replace_deletes_the_rest(url: str) -> None:
    with psycopg.connect(url) as conn:
        store_definitions(conn, "account", [INDUSTRY, EMPLOYEES])
        narrowed = {**INDUSTRY, "options": [{"label": "Banking", "value": "BANKING"}]}
        assert store_definitions(conn, "account", [narrowed]) == 1
        assert load_definitions(conn, "account")["industry"].options == ("BANKING",)
        assert set(load_definitions(conn, "account")) == {"industry", "numberofemployees"}
        store_definitions(conn, "account", [EMPLOYEES], replace=True)
        assert set(load_definitions(conn, "account")) == {"numberofemployees"}
        store_definitions(conn, "account", [], replace=True)
        assert load_definitions(conn, "account") == {}


def test_store_joins_the_callers_transaction(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")  # a transaction is open: store_definitions runs in a savepoint
        store_definitions(conn, "account", [INDUSTRY])
        conn.rollback()
        assert load_definitions(conn, "account") == {}


def test_a_body_without_a_name_is_refused(url: str) -> None:
    with psycopg.connect(url) as conn, pytest.raises(ValueError, match="without a name"):
        store_definitions(conn, "account", [{"type": "string"}])


def test_unparseable_cached_definitions_are_skipped(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with psycopg.connect(url) as conn:
        store_definitions(conn, "contact", [{"name": "geo", "type": "object_coordinates"}, EMPLOYEES])
        with caplog.at_level(logging.WARNING, logger="hubsync.mapping.definitions"):
            assert set(load_definitions(conn, "contact")) == {"numberofemployees"}
        assert "contact.geo" in caplog.text


def test_refresh_from_the_sandbox(url: str, sandbox: ThreadedSandbox) -> None:
    async def refresh(target: Any) -> tuple[int, int]:
        async with make_client(sandbox.base_url) as client:
            return (
                await refresh_definitions(target, client, "account"),
                await refresh_definitions(target, client, "contact"),
            )

    with psycopg.connect(url) as conn:
        # a stale definition HubSpot no longer has is dropped by the refresh
        store_definitions(conn, "account", [{"name": "gone_property", "type": "string"}])
        conn.commit()
        accounts, contacts = asyncio.run(refresh(conn))
        assert accounts > 10 and contacts > 10
        companies = load_definitions(conn, "account")
        assert len(companies) == accounts and "gone_property" not in companies
        industry = companies["industry"]
        assert industry.type == "enumeration" and len(industry.options) == 148
        assert "COMPUTER_SOFTWARE" in industry.options
        assert companies["numberofemployees"].type == "number"
        assert companies["num_associated_contacts"].read_only  # calculated
        people = load_definitions(conn, "contact")
        assert len(people) == contacts
        assert people["jobtitle"].type == "string"
        assert people["hs_additional_emails"].read_only

    # through a pool (the refresher borrows a connection only for the write), committed
    with open_pool(url, PoolConfig(min_size=1, max_size=1)) as pool:
        assert asyncio.run(refresh(pool)) == (accounts, contacts)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM hubsync.property_definitions").fetchone() == (
            accounts + contacts,
        )
