"""Crash points: where the fault suite kills a process with SIGKILL, inside a chosen window.

A crash point names a window between two durable steps (``ingest.after_commit``: PostgreSQL
committed, the batch's offsets not). Set ``HUBSYNC_CRASH_AT=<point>:<n>`` and the process kills
itself with SIGKILL (``kill -9``: no cleanup, no flush, no goodbye to the group) the ``n``-th
time it reaches that point. Unset, which is the only way a deployment runs, :func:`crash_point`
is one dictionary lookup. The points and their windows are listed in :data:`CRASH_POINTS`
(docs/reliability.md); a name not listed there is refused at start, so a typo cannot silently
test nothing.
"""

from __future__ import annotations

import os
import signal

from hubsync.errors import ConfigurationError

ENV_VAR = "HUBSYNC_CRASH_AT"

#: every crash point: the window it kills the process in
CRASH_POINTS: dict[str, str] = {
    "ingest.before_commit": "a batch applied in its transaction, not committed",
    "ingest.after_commit": "a batch committed in PostgreSQL; crm.* not published, offsets not committed",
    "push.after_send": "HubSpot applied a push batch; links and error log not stored, offsets not committed",
    "push.after_store": "a push batch's outcome committed in PostgreSQL; offsets not committed",
    "relay.after_publish": "outbox rows acknowledged by Kafka, not marked published",
    "relay.after_mark": "outbox rows marked published; the next round not read",
    "webhook.after_publish": "a webhook batch's events in Kafka; dedupe keys not stored, no answer sent",
    "webhook.after_dedupe": "dedupe keys stored; no answer sent to HubSpot",
    "poller.after_publish": "a page of changes acknowledged by Kafka; the cursor not saved",
    "poller.after_cursor": "the cursor saved; the next page not read",
}


class CrashPointError(ConfigurationError):
    """``HUBSYNC_CRASH_AT`` names no crash point, or its count is not a positive integer."""


def parse(spec: str) -> tuple[str, int]:
    """``"point:n"`` (or ``"point"``, n = 1) as ``(point, n)``; raises :class:`CrashPointError`."""
    point, _, count = spec.strip().partition(":")
    if point not in CRASH_POINTS:
        raise CrashPointError(f"{ENV_VAR}: unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise CrashPointError(f"{ENV_VAR}: count must be an integer, got {count!r}") from None
    if n < 1:
        raise CrashPointError(f"{ENV_VAR}: count must be at least 1, got {n}")
    return point, n


_armed: dict[str, int] = {}


def arm(spec: str | None) -> None:
    """Arm the point ``spec`` names (None or empty: disarm every point)."""
    _armed.clear()
    if spec:
        point, n = parse(spec)
        _armed[point] = n


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and this is its ``n``-th pass."""
    if not _armed or name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)


arm(os.environ.get(ENV_VAR))
