"""The admin console served in a background thread, for tests and benchmarks in one process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hubsync._runtime.background import BackgroundService
from hubsync.console.config import ConsoleConfig
from hubsync.console.server import console_site
from hubsync.settings import Settings, require_database_url


@contextlib.contextmanager
def serving_console(settings: Settings, *, start_timeout_s: float = 30.0) -> Iterator[str]:
    """The console on a free loopback port until the block ends; yields its base URL."""
    site = console_site(
        ConsoleConfig.from_settings(settings), require_database_url(settings), host="127.0.0.1", port=0
    )
    with BackgroundService(site, name="hubsync-console", timeout=start_timeout_s) as service:
        yield service.running.url
