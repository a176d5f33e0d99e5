"""The HubSpot client's four timeouts are settings, and the read timeout bounds a slow answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig, RetryPolicy
from hubsync.connectors.hubspot.http.errors import HubSpotRetriesExhaustedError
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings
from tests.connectors.hubspot.client_support import TOKEN, Control, sandbox_fixture


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    yield from sandbox_fixture()


def test_timeouts_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-x")
    monkeypatch.setenv("HUBSYNC_HUBSPOT_CONNECT_TIMEOUT_S", "1.5")
    monkeypatch.setenv("HUBSYNC_HUBSPOT_READ_TIMEOUT_S", "12")
    monkeypatch.setenv("HUBSYNC_HUBSPOT_WRITE_TIMEOUT_S", "7")
    monkeypatch.setenv("HUBSYNC_HUBSPOT_POOL_TIMEOUT_S", "3")
    config = HubSpotClientConfig.from_settings(Settings())
    assert (
        config.connect_timeout_s,
        config.read_timeout_s,
        config.write_timeout_s,
        config.pool_timeout_s,
    ) == (
        1.5,
        12.0,
        7.0,
        3.0,
    )


def test_defaults_and_invalid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(hubspot_access_token=SecretStr("pat-x"))
    config = HubSpotClientConfig.from_settings(settings)
    assert (
        config.connect_timeout_s,
        config.read_timeout_s,
        config.write_timeout_s,
        config.pool_timeout_s,
    ) == (
        5.0,
        30.0,
        30.0,
        30.0,
    )
    monkeypatch.setenv("HUBSYNC_HUBSPOT_READ_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="hubspot_read_timeout_s"):
        Settings()


def test_the_read_timeout_bounds_a_slow_answer(sandbox: ThreadedSandbox) -> None:
    control = Control(sandbox.base_url)
    control.reset()
    control.faults(latency_ms=5_000, path_prefix="/crm/v3/properties")

    async def read(read_timeout_s: float) -> None:
        config = HubSpotClientConfig(
            access_token=SecretStr(TOKEN),
            base_url=sandbox.base_url,
            read_timeout_s=read_timeout_s,
            retry=RetryPolicy(max_attempts=1),
        )
        async with HubSpotClient(config) as client:
            await client.get_properties("contacts")

    try:
        with pytest.raises(HubSpotRetriesExhaustedError):
            asyncio.run(read(0.2))
        control.faults(latency_ms=300, path_prefix="/crm/v3/properties")
        asyncio.run(read(10.0))  # the same slow answer within a longer read timeout
    finally:
        control.reset()
