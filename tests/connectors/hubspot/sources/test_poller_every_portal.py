"""``hubsync poller`` with the public app and no portal named polls every active install, each with its
own token and cursors, as ``hubsync run`` does; a portal that fails is reported and the others are polled.

Against the sandbox's HubSpot (several portals, OAuth), real Kafka and PostgreSQL, the command run as a
user runs it (the Helm chart's poller Deployment runs it so).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.oauth.runtime import portal_store
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from hubsync.storage.portals import TokenPair
from hubsync.storage.token_cipher import new_key
from tests.ingest.worker_harness import TopicDrain
from tests.sandbox.oauth_support import install_portals, portal_tokens, refused_tokens

pytestmark = pytest.mark.integration

CLIENT_ID = "hubsync-poller-portals"
CLIENT_SECRET = "poller-portals-secret"
REDIRECT = "https://app.example/cb"
PRIVATE_TOKEN = "pat-na1-00000000-0000-0000-0000-pollerportals0"
A, B, C = 62515, 777001, 888002


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    config = SandboxConfig(
        access_token=SecretStr(PRIVATE_TOKEN),  # a token the sandbox never issued is refused
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SecretStr(CLIENT_SECRET),
    )
    with ThreadedSandbox(config) as running:
        yield running


def _contact(base_url: str, tokens: TokenPair, email: str) -> None:
    answer = httpx.post(
        f"{base_url}/crm/v3/objects/contacts",
        headers={"Authorization": f"Bearer {tokens.access_token}"},
        json={"properties": {"email": email, "firstname": email.split("@")[0]}},
    )
    assert answer.status_code == 201, answer.text


def test_the_poller_polls_every_installed_portal_and_reports_the_one_that_fails(
    sandbox: ThreadedSandbox, kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    migrate(fresh_database_url)
    prefix = f"portals{uuid.uuid4().hex[:8]}."
    topics = {
        f"HUBSYNC_TOPICS__{role.upper()}": prefix + name for role, name in TopicNames().model_dump().items()
    }
    keys = new_key("k1")
    env = {
        **os.environ,
        **topics,
        "HUBSPOT_BASE_URL": sandbox.base_url,
        "HUBSPOT_CLIENT_ID": CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
        "HUBSPOT_OAUTH_REDIRECT_URI": REDIRECT,
        "HUBSYNC_TOKEN_KEYS": keys,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "DATABASE_URL": fresh_database_url,
        "HUBSYNC_METRICS_PORT": "0",
        "HUBSYNC_TOPIC_PARTITIONS": "2",
        "HUBSYNC_POLL_SETTLE_MS": "0",  # the contacts were just written: read them without waiting
    }
    env.pop("HUBSPOT_ACCESS_TOKEN", None)
    env.pop("HUBSYNC_PORTAL_ID", None)
    settings = Settings(database_url=fresh_database_url, token_keys=SecretStr(keys))
    grants = {
        p: portal_tokens(
            sandbox.base_url, p, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT
        )
        for p in (A, B)
    }
    _contact(sandbox.base_url, grants[A], "ann@a.example")
    _contact(sandbox.base_url, grants[A], "abe@a.example")
    _contact(sandbox.base_url, grants[B], "bea@b.example")
    install_portals(portal_store(settings), {**grants, C: refused_tokens()})

    done = subprocess.run(
        [sys.executable, "-m", "hubsync", "poller", "--once", "--type", "contacts"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr  # one portal failed: --once says so
    assert f"portal {A}: contacts: 2 events published" in done.stderr
    assert f"portal {B}: contacts: 1 events published" in done.stderr
    assert f"portal {C}: not polled this round" in done.stderr
    assert "not-a-token" not in done.stdout + done.stderr

    codec = SingleObjectCodec(SchemaRepository())
    schema = codec.repository.current("hubspot_change_event")
    topic = topics["HUBSYNC_TOPICS__HUBSPOT_CONTACTS"]
    messages = TopicDrain(kafka_bootstrap_servers, topic, partitions=2).drain()
    values = [codec.decode(topic, schema, m.value(), plain=True) for m in messages]
    by_portal = sorted((v["portal_id"], v["properties"]["email"]) for v in values)
    assert by_portal == [(A, "abe@a.example"), (A, "ann@a.example"), (B, "bea@b.example")]

    # --full reads one portal: with several and none named, a usage error
    full = subprocess.run(
        [sys.executable, "-m", "hubsync", "poller", "--full", "--once"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert full.returncode == 2 and "--full reads one portal" in full.stderr
