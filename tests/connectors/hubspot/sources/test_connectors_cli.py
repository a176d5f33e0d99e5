"""``hubsync pull`` and ``hubsync poller`` as a user runs them, against the sandbox, Kafka and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox
from hubsync.settings import TopicNames

pytestmark = pytest.mark.integration
TOKEN = "pat-cli-connectors"


@pytest.fixture
def env(kafka_bootstrap_servers: str, fresh_database_url: str) -> Iterator[dict[str, str]]:
    config = SandboxConfig(access_token=SecretStr(TOKEN), burst_limit=10_000, search_per_second=1_000)
    with ThreadedSandbox(config, seed=SeedSpec(contacts=250)) as box:
        prefix = f"cli{uuid.uuid4().hex[:8]}."
        topics = {
            f"HUBSYNC_TOPICS__{role.upper()}": prefix + name
            for role, name in TopicNames().model_dump().items()
        }
        yield {
            **os.environ,
            **topics,
            "HUBSPOT_BASE_URL": box.base_url,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "DATABASE_URL": fresh_database_url,
            "HUBSYNC_METRICS_PORT": "0",
            "HUBSYNC_TOPIC_PARTITIONS": "2",
            "HUBSYNC_POLL_SETTLE_MS": "0",  # the seed was just written: read it without waiting
        }


def hubsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubsync", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_pull_and_poll_from_the_command_line(env: dict[str, str]) -> None:
    assert hubsync(env, "db", "migrate").returncode == 0
    full = hubsync(env, "pull", "contacts", "--full")
    assert full.returncode == 0, full.stderr
    assert "contacts: 250 records" in full.stderr
    assert TOKEN not in full.stdout + full.stderr

    by_id = hubsync(env, "pull", "contacts", "--id", "1", "--id", "987654321")
    assert by_id.returncode == 0, by_id.stderr
    assert "1 records pulled" in by_id.stderr and "not found: 987654321" in by_id.stderr

    poll = hubsync(env, "poller", "--once", "--type", "companies")
    assert poll.returncode == 0, poll.stderr
    assert "companies: 25 events published" in poll.stderr


def test_missing_token_is_a_configuration_error(env: dict[str, str]) -> None:
    without = {k: v for k, v in env.items() if k != "HUBSPOT_ACCESS_TOKEN"}
    result = hubsync(without, "pull", "contacts")
    assert result.returncode == 3
    assert "HUBSPOT_ACCESS_TOKEN is not set" in result.stderr


def test_id_without_a_type_is_a_usage_error(env: dict[str, str]) -> None:
    result = hubsync(env, "pull", "--id", "1")
    assert result.returncode == 2
    assert "--id needs an object type" in result.stderr
