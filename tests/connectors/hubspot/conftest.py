"""Fixtures of the HubSpot client tests: one sandbox per module and its control API, reset per test.
Modules that need another sandbox (the webhook and poller tests) define their own ``sandbox``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubsync.sandbox.server import ThreadedSandbox
from tests.connectors.hubspot.client_support import Control, control_fixture, sandbox_fixture


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    yield from sandbox_fixture()


@pytest.fixture
def control(sandbox: ThreadedSandbox) -> Iterator[Control]:
    yield from control_fixture(sandbox)
