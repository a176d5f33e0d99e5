"""The admin console served in a background thread, for tests and benchmarks in one process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from hubsync.console.config import ConsoleConfig
from hubsync.console.server import console_site
from hubsync.settings import Settings, require_database_url


@contextlib.contextmanager
def serving_console(settings: Settings, *, start_timeout_s: float = 30.0) -> Iterator[str]:
    """The console on a free loopback port until the block ends; yields its base URL."""
    config = ConsoleConfig.from_settings(settings)
    database_url = require_database_url(settings)
    url: list[str] = []
    started = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with console_site(config, database_url, host="127.0.0.1", port=0) as running:
                url.append(running.url)
                started.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(start_timeout_s):
        raise TimeoutError(f"the console did not start within {start_timeout_s} s")
    if failure:
        raise failure[0]
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
