"""Fixtures of the sandbox tests: one live sandbox per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.live import LiveSandbox, serving


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[LiveSandbox]:
    """Modules that need another configuration override this fixture."""
    yield from serving(LiveSandbox())


@pytest.fixture
def sandbox(live_sandbox: LiveSandbox) -> LiveSandbox:
    live_sandbox.reset()
    return live_sandbox
