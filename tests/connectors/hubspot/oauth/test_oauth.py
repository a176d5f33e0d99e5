"""The public app against the sandbox's OAuth: an install end to end through the webhook receiver,
tokens encrypted at rest, refreshes (before expiry, on 401 EXPIRED_AUTHENTICATION, never two at
once), a revoked portal stopping cleanly, ``hubsync portals``, and the official SDK's OAuth client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.http.errors import HubSpotAuthError
from hubsync.connectors.hubspot.http.requester import MAX_TOKEN_RENEWALS
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.runtime import hubspot_client_config, portal_store
from hubsync.connectors.hubspot.oauth.tokens import PortalTokenSource
from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
from hubsync.connectors.hubspot.webhooks.service import ThreadedWebhookReceiver
from hubsync.metrics import ConnectorMetrics
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.storage.defaults import load_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.portals import PortalUnavailableError
from hubsync.storage.token_cipher import new_key
from tests.ingest.worker_harness import (
    _INHERITED_NAMES,
    _INHERITED_PREFIXES,
    _hubsync_command,
    prepare_worker,
)
from tests.sandbox.oauth_support import portal_tokens

CLIENT_ID = "hubsync-test-app"
CLIENT_SECRET = "app-client-secret-7f3a"
PORTAL = 62515
KEYS = new_key("k1")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass
class App:
    sandbox: ThreadedSandbox
    settings: Settings

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.sandbox.base_url, timeout=30)

    def grants(self) -> dict[str, int]:
        grants: dict[str, int] = self.api.get("/_sandbox/oauth").json()["grants"]
        return grants


def _sandbox_config(**extra: Any) -> SandboxConfig:
    return SandboxConfig(oauth_client_id=CLIENT_ID, oauth_client_secret=SecretStr(CLIENT_SECRET), **extra)


def _settings(sandbox: ThreadedSandbox, database_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=SecretStr(database_url),
        hubspot_base_url=sandbox.base_url,
        hubspot_client_id=CLIENT_ID,
        hubspot_client_secret=SecretStr(CLIENT_SECRET),
        hubspot_oauth_redirect_uri="http://127.0.0.1:1/oauth/callback",
        hubspot_authorize_url=f"{sandbox.base_url}/oauth/authorize",
        token_keys=SecretStr(KEYS),
        **extra,
    )


async def _install(settings: Settings) -> None:
    """What the callback does, without a browser: authorize, exchange the code, store the portal."""
    oauth = OAuthClient(OAuthAppConfig.from_settings(settings))
    redirect = httpx.get(
        f"{settings.hubspot_base_url}/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": settings.hubspot_oauth_redirect_uri, "scope": "a b"},
    )
    code = httpx.URL(redirect.headers["location"]).params["code"]
    tokens = await oauth.exchange_code(code)
    info = await oauth.token_info(tokens.access_token)
    await portal_store(settings).install(
        info.portal_id, tokens, hub_domain=info.hub_domain, app_id=None, scopes=info.scopes
    )


@pytest.fixture
def app(fresh_database_url: str) -> Iterator[App]:
    migrate(fresh_database_url)
    with ThreadedSandbox(
        _sandbox_config(oauth_access_token_ttl_s=1800), seed=SeedSpec(contacts=30, companies=0)
    ) as sandbox:
        yield App(sandbox, _settings(sandbox, fresh_database_url))


def test_an_install_through_the_oauth_flow_end_to_end(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> None:
    migrate(fresh_database_url)
    port = _free_port()
    with ThreadedSandbox(_sandbox_config(), seed=SeedSpec(contacts=5, companies=0)) as sandbox:
        settings = _settings(sandbox, fresh_database_url).model_copy(
            update={
                "kafka_bootstrap_servers": kafka_bootstrap_servers,
                "hubspot_webhook_secret": SecretStr(CLIENT_SECRET),
                "hubspot_oauth_redirect_uri": f"http://127.0.0.1:{port}/oauth/callback",
                "topics": TopicNames(
                    hubspot_contacts=f"test.oauth.{uuid.uuid4().hex[:8]}.contacts",
                    hubspot_companies=f"test.oauth.{uuid.uuid4().hex[:8]}.companies",
                ),
            }
        )
        config = WebhookReceiverConfig.from_settings(settings)
        with ThreadedWebhookReceiver(
            settings, config, ConnectorMetrics.create(CollectorRegistry()), port=port
        ):
            # the browser: install -> HubSpot's consent -> back to the callback
            answer = httpx.get(f"http://127.0.0.1:{port}/oauth/install", follow_redirects=True, timeout=30)
            assert answer.status_code == 200, answer.text
            assert f"installed for portal {PORTAL}" in answer.text
            forged = httpx.get(
                f"http://127.0.0.1:{port}/oauth/callback", params={"code": "x", "state": "1.a.b"}
            )
            assert forged.status_code == 400 and "expired or was not made here" in forged.text

        with psycopg.connect(fresh_database_url) as conn:
            row = conn.execute(
                "SELECT status, access_token_enc, refresh_token_enc FROM hubsync.portals WHERE portal_id = %s",
                (PORTAL,),
            ).fetchone()
        assert row is not None and row[0] == "active"
        with psycopg.connect(fresh_database_url) as conn:  # the first install names the home portal
            assert conn.execute("SELECT hubsync.current_portal()").fetchone() == (PORTAL,)
        stored = asyncio.run(portal_store(settings).tokens(PORTAL))
        assert stored.access_token not in row[1] and stored.refresh_token not in row[2]

        # no HUBSPOT_ACCESS_TOKEN: the client uses the only installed portal's token
        async def read() -> int:
            async with HubSpotClient(await hubspot_client_config(settings)) as client:
                page = await client.get_page("contacts", limit=10)
                return len(page.results)

        assert asyncio.run(read()) == 5


def test_refreshes_never_overlap_and_an_expired_token_is_renewed_once(app: App) -> None:
    asyncio.run(_install(app.settings))
    store = portal_store(app.settings)
    before = app.grants()["refresh_token"]

    async def two_processes() -> list[str]:
        oauth = OAuthClient(OAuthAppConfig.from_settings(app.settings))
        sources = [
            PortalTokenSource(PORTAL, store, oauth, base_url=app.settings.hubspot_base_url) for _ in range(4)
        ]
        stale = await sources[0].token()
        return list(await asyncio.gather(*(s.refresh(stale) for s in sources)))

    tokens = asyncio.run(two_processes())
    assert len(set(tokens)) == 1, "every source got the one fresh token"
    assert app.grants()["refresh_token"] == before + 1, "one refresh for four sources"

    # HubSpot expires the token early: the client renews it on 401 EXPIRED_AUTHENTICATION and goes on
    app.api.post("/_sandbox/oauth/expire")

    async def read_after_expiry() -> tuple[int, int]:
        async with HubSpotClient(await hubspot_client_config(app.settings)) as client:
            page = await client.get_page("contacts", limit=5)
            return len(page.results), app.grants()["refresh_token"]

    read, grants = asyncio.run(read_after_expiry())
    assert read == 5 and grants == before + 2


class _Renewals:
    """A token source handing out the given tokens in turn, one more per renewal."""

    portal_key = ("renewals", str(PORTAL))

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.renewed = tokens, 0

    async def token(self) -> str:
        return self.tokens[self.renewed]

    async def refresh(self, rejected: str) -> str | None:
        assert rejected == self.tokens[self.renewed]
        self.renewed += 1
        return self.tokens[self.renewed]


def test_a_token_expired_again_right_after_its_renewal_is_renewed_again() -> None:
    """Tokens that die every 150 ms (the backfill test below) can expire between a renewal and its
    use: the request renews again, a bounded number of times (MAX_TOKEN_RENEWALS)."""
    with ThreadedSandbox(_sandbox_config(), seed=SeedSpec(contacts=5, companies=0)) as sandbox:
        expired = [portal_tokens(sandbox.base_url, PORTAL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)]
        expired.append(
            portal_tokens(sandbox.base_url, PORTAL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        )
        httpx.post(f"{sandbox.base_url}/_sandbox/oauth/expire").raise_for_status()
        fresh = portal_tokens(sandbox.base_url, PORTAL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        source = _Renewals([t.access_token for t in (*expired, fresh)])

        async def read() -> int:
            config = HubSpotClientConfig(base_url=sandbox.base_url, token_source=source)
            async with HubSpotClient(config) as client:
                return len((await client.get_page("contacts", limit=5)).results)

        assert asyncio.run(read()) == 5 and source.renewed == 2

        # a source that keeps handing out dead tokens: the request gives up after MAX_TOKEN_RENEWALS
        dead = [expired[0].access_token] * (MAX_TOKEN_RENEWALS + 2)
        source = _Renewals(dead)
        with pytest.raises(HubSpotAuthError, match="EXPIRED_AUTHENTICATION"):
            asyncio.run(read())
        assert source.renewed == MAX_TOKEN_RENEWALS


def test_a_revoked_portal_stops_and_says_why(app: App) -> None:
    asyncio.run(_install(app.settings))
    refresh = asyncio.run(portal_store(app.settings).tokens(PORTAL)).refresh_token
    assert app.api.delete(f"/oauth/v1/refresh-tokens/{refresh}").status_code == 204  # uninstalled in HubSpot
    app.api.post("/_sandbox/oauth/expire")

    async def read() -> None:
        async with HubSpotClient(await hubspot_client_config(app.settings)) as client:
            await client.get_page("contacts", limit=5)

    with pytest.raises(PortalUnavailableError, match=r"revoked.*BAD_REFRESH_TOKEN"):
        asyncio.run(read())
    listed = json.loads(_cli(app.settings, "portals", "list", "--json").stdout)
    assert listed[0]["status"] == "revoked" and "BAD_REFRESH_TOKEN" in listed[0]["reason"]


def test_pause_resume_and_remove_from_the_command_line(app: App) -> None:
    asyncio.run(_install(app.settings))
    assert _cli(app.settings, "portals", "pause", str(PORTAL), "--reason", "contract ended").returncode == 0

    async def read() -> int:
        async with HubSpotClient(await hubspot_client_config(app.settings)) as client:
            return len((await client.get_page("contacts", limit=5)).results)

    with pytest.raises(PortalUnavailableError, match="paused: contract ended"):
        asyncio.run(read())
    assert _cli(app.settings, "portals", "resume", str(PORTAL)).returncode == 0
    assert asyncio.run(read()) == 5
    refresh = asyncio.run(portal_store(app.settings).tokens(PORTAL)).refresh_token
    assert _cli(app.settings, "portals", "remove", str(PORTAL)).returncode == 0
    assert app.api.get(f"/oauth/v1/refresh-tokens/{refresh}").status_code == 404, "revoked at HubSpot"
    shown = json.loads(_cli(app.settings, "portals", "show", str(PORTAL), "--json").stdout)
    assert shown[0]["status"] == "removed"
    with psycopg.connect(app.settings.database_url.get_secret_value()) as conn:  # type: ignore[union-attr]
        assert conn.execute("SELECT refresh_token_enc FROM hubsync.portals").fetchone() == (None,)
    rerun = _cli(app.settings, "portals", "resume", str(PORTAL))
    assert rerun.returncode == 1 and "install the app again" in rerun.stderr


def test_key_rotation_reencrypts_every_token(app: App) -> None:
    asyncio.run(_install(app.settings))
    rotated = app.settings.model_copy(update={"token_keys": SecretStr(f"{new_key('k2')},{KEYS}")})
    result = _cli(rotated, "portals", "rotate-key")
    assert result.returncode == 0 and "1 portal(s) re-encrypted" in result.stderr
    only_new = rotated.model_copy(
        update={"token_keys": SecretStr(rotated.token_keys.get_secret_value().split(",")[0])}
    )  # type: ignore[union-attr]
    assert asyncio.run(portal_store(only_new).tokens(PORTAL)).access_token


def test_token_expiry_in_the_middle_of_a_backfill_loses_no_page(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> None:
    with ThreadedSandbox(_sandbox_config(), seed=SeedSpec(contacts=1200, companies=0)) as sandbox:
        setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=2)
        settings = _settings(sandbox, fresh_database_url)
        asyncio.run(_install(settings))
        stop = threading.Event()

        def expire_often() -> None:  # every token HubSpot issued dies every 150 ms
            while not stop.wait(0.15):
                httpx.post(f"{sandbox.base_url}/_sandbox/oauth/expire")

        expirer = threading.Thread(target=expire_often, daemon=True)
        expirer.start()
        try:
            result = _cli(
                settings,
                "pull",
                "contacts",
                "--full",
                env={**setup.env, "HUBSYNC_OAUTH_REFRESH_MARGIN_S": "0"},
            )
        finally:
            stop.set()
            expirer.join()
        assert result.returncode == 0, result.stdout + result.stderr
        refreshes = httpx.get(f"{sandbox.base_url}/_sandbox/oauth").json()["grants"]["refresh_token"]
        assert refreshes >= 2, "the tokens expired during the backfill"
        ids = _published_ids(kafka_bootstrap_servers, setup.topics.hubspot_contacts_backfill)
        assert len(set(ids)) == 1200, f"{1200 - len(set(ids))} records lost"


def test_the_official_sdk_oauth_client_works_against_the_sandbox() -> None:
    from hubspot.oauth import AccessTokensApi, ApiClient, Configuration, RefreshTokensApi, TokensApi
    from hubspot.oauth.exceptions import ApiException

    with ThreadedSandbox(_sandbox_config()) as sandbox:
        redirect = httpx.get(
            f"{sandbox.base_url}/oauth/authorize",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": "https://app.example/cb",
                "scope": "oauth",
                "state": "s",
            },
        )
        assert redirect.status_code == 302
        location = httpx.URL(redirect.headers["location"])
        assert location.params["state"] == "s"
        client = ApiClient(Configuration(host=sandbox.base_url))
        tokens = TokensApi(client).create(
            grant_type="authorization_code",
            code=location.params["code"],
            redirect_uri="https://app.example/cb",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        assert tokens.token_type == "bearer" and tokens.expires_in == 1800
        info = AccessTokensApi(client).get(tokens.access_token)
        assert info.hub_id == PORTAL and info.scopes == ["oauth"]
        renewed = TokensApi(client).create(
            grant_type="refresh_token",
            refresh_token=tokens.refresh_token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        assert renewed.access_token != tokens.access_token
        assert RefreshTokensApi(client).get(tokens.refresh_token).hub_id == PORTAL
        RefreshTokensApi(client).archive(tokens.refresh_token)
        with pytest.raises(ApiException) as refused:
            TokensApi(client).create(
                grant_type="refresh_token",
                refresh_token=tokens.refresh_token,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
            )
        assert refused.value.status == 400 and json.loads(refused.value.body)["status"] == "BAD_REFRESH_TOKEN"


# --- helpers ----------------------------------------------------------------------------------------


def _free_port() -> int:
    from hubsync._runtime.processes import free_port

    return free_port()


def _cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_INHERITED_PREFIXES) and k not in _INHERITED_NAMES
    }
    assert settings.database_url is not None and settings.hubspot_client_secret is not None
    assert settings.token_keys is not None
    variables = {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "HUBSPOT_BASE_URL": settings.hubspot_base_url,
        "HUBSPOT_CLIENT_ID": CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": settings.hubspot_client_secret.get_secret_value(),
        "HUBSPOT_OAUTH_REDIRECT_URI": settings.hubspot_oauth_redirect_uri or "",
        "HUBSYNC_TOKEN_KEYS": settings.token_keys.get_secret_value(),
        "NO_COLOR": "1",
        "COLUMNS": "300",
    }
    for name in without:
        variables.pop(name)
    return subprocess.run(
        [*_hubsync_command(), *args],
        env={**clean, **(env or {}), **variables},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _published_ids(bootstrap: str, topic: str) -> list[str]:
    from confluent_kafka import Consumer

    from hubsync.avro.codec import SingleObjectCodec
    from hubsync.avro.schemas import SchemaRepository

    codec = SingleObjectCodec(SchemaRepository())
    schema = codec.repository.current("hubspot_change_event")
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    ids: list[str] = []
    idle = 0
    try:
        while idle < 5:
            batch = consumer.consume(500, timeout=1.0)
            idle = 0 if batch else idle + 1
            ids += [codec.decode(topic, schema, m.value())["object_id"] for m in batch if m.error() is None]
    finally:
        consumer.close()
    return ids


def test_httpx_log_lines_never_carry_a_token() -> None:
    import logging

    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
        ("GET", "https://api.hubapi.com/oauth/v1/access-tokens/CNsecret-token-123", "HTTP/1.1", 200, "OK"), None,
    )  # fmt: skip
    for handler_filter in logging.getLogger("httpx").filters:
        handler_filter.filter(record)
    assert "CNsecret" not in record.getMessage() and "/access-tokens/<redacted>" in record.getMessage()


def test_a_second_portal_installs_beside_the_first_with_its_own_default_settings(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> None:
    migrate(fresh_database_url)
    port = _free_port()
    with ThreadedSandbox(_sandbox_config()) as sandbox:
        settings = _settings(sandbox, fresh_database_url).model_copy(
            update={
                "kafka_bootstrap_servers": kafka_bootstrap_servers,
                "hubspot_webhook_secret": SecretStr(CLIENT_SECRET),
                "hubspot_oauth_redirect_uri": f"http://127.0.0.1:{port}/oauth/callback",
                "hubspot_authorize_url": f"{sandbox.base_url}/oauth/authorize?portal_id=777001",
                "topics": TopicNames(
                    hubspot_contacts=f"test.oauth.{uuid.uuid4().hex[:8]}.contacts",
                    hubspot_companies=f"test.oauth.{uuid.uuid4().hex[:8]}.companies",
                ),
            }
        )
        asyncio.run(_install(settings))  # portal 62515 first
        config = WebhookReceiverConfig.from_settings(settings)
        with ThreadedWebhookReceiver(
            settings, config, ConnectorMetrics.create(CollectorRegistry()), port=port
        ):
            answer = httpx.get(f"http://127.0.0.1:{port}/oauth/install", follow_redirects=True, timeout=30)
        assert answer.status_code == 200 and "installed for portal 777001" in answer.text
        assert sorted(p.portal_id for p in asyncio.run(portal_store(settings).list())) == [PORTAL, 777001]
        with psycopg.connect(fresh_database_url) as conn:
            seeded = dict(
                conn.execute(
                    "SELECT portal_id, count(*) FROM hubsync.field_mappings_all GROUP BY 1"
                ).fetchall()
            )
        # the new portal has the default mappings, and only it was given them
        assert seeded == {777001: len(load_defaults().field_mappings)}


def test_a_paused_portal_is_revoked_at_hubspot_when_removed_and_a_removed_one_cannot_be_paused(
    app: App,
) -> None:
    asyncio.run(_install(app.settings))
    refresh = asyncio.run(portal_store(app.settings).tokens(PORTAL)).refresh_token
    assert _cli(app.settings, "portals", "pause", str(PORTAL)).returncode == 0
    removed = _cli(app.settings, "portals", "remove", str(PORTAL))
    assert removed.returncode == 0 and "refresh token revoked at HubSpot" in removed.stderr
    assert app.api.get(f"/oauth/v1/refresh-tokens/{refresh}").status_code == 404
    paused = _cli(app.settings, "portals", "pause", str(PORTAL))
    assert paused.returncode == 1 and "is removed" in paused.stderr


def test_listing_portals_needs_no_keys_but_touching_tokens_does(app: App) -> None:
    asyncio.run(_install(app.settings))
    listed = _cli(app.settings, "portals", "list", "--json", without=("HUBSYNC_TOKEN_KEYS",))
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["portal_id"] == PORTAL
    rotated = _cli(app.settings, "portals", "rotate-key", without=("HUBSYNC_TOKEN_KEYS",))
    assert rotated.returncode == 3 and "HUBSYNC_TOKEN_KEYS is not set" in rotated.stderr
