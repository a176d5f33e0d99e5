"""A bounded log of the requests the sandbox answered, for tests and the control API.

The log is a ring buffer: once ``maxlen`` entries are held, each new one drops the oldest, so
memory stays flat however long a benchmark runs. Appending is O(1); queries scan the buffer
(10,000 entries by default) and are meant for assertions and the control API, not hot paths.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One answered request."""

    #: wall-clock epoch seconds when the request arrived
    time: float
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    #: the request's Content-Length (0 when it sent none or streamed a body of unknown length)
    request_bytes: int
    #: answered 429 by the rate limiter
    rate_limited: bool
    correlation_id: str
    #: answered (or delayed) by fault injection: the injected status, or 0 for latency only
    fault_status: int | None = None
    #: applied, then left unanswered by the drop fault
    dropped: bool = False
    #: with body capture on (opt-in): the request's and the answer's JSON bodies (text when not
    #: JSON), and the record ids they and the path name
    request_body: Any = None
    response_body: Any = None
    record_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "durationMs": round(self.duration_ms, 3),
            "requestBytes": self.request_bytes,
            "rateLimited": self.rate_limited,
            "correlationId": self.correlation_id,
            "faultStatus": self.fault_status,
            "dropped": self.dropped,
            "requestBody": self.request_body,
            "responseBody": self.response_body,
            "recordIds": list(self.record_ids),
        }


class RequestLog:
    """A ring buffer of :class:`LogEntry`. ``total`` counts every entry ever appended."""

    def __init__(self, maxlen: int = DEFAULT_SIZE, *, capture_bodies: bool = False) -> None:
        if maxlen <= 0:
            raise ValueError("maxlen must be positive")
        #: keep request and answer bodies and the record ids they name (opt-in: bodies hold
        #: personal data and take memory)
        self.capture_bodies = capture_bodies
        self._entries: deque[LogEntry] = deque(maxlen=maxlen)
        self._maxlen = maxlen
        self.total = 0

    @property
    def maxlen(self) -> int:
        return self._maxlen

    def append(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        self.total += 1

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(tuple(self._entries))

    def query(
        self,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        status: int | Collection[int] | None = None,
        since: float | None = None,
        rate_limited: bool | None = None,
        limit: int | None = None,
    ) -> list[LogEntry]:
        """Entries matching every given filter, oldest first; ``limit`` keeps the newest ones.

        ``status`` is one status or a collection of them; ``since`` is epoch seconds (inclusive).
        """
        statuses: Collection[int] | None = (status,) if isinstance(status, int) else status
        wanted_method = method.upper() if method is not None else None
        found = [
            e
            for e in tuple(self._entries)
            if (since is None or e.time >= since)
            and (path_prefix is None or e.path.startswith(path_prefix))
            and (wanted_method is None or e.method == wanted_method)
            and (statuses is None or e.status in statuses)
            and (rate_limited is None or e.rate_limited is rate_limited)
        ]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return found

    def count(self, **filters: Any) -> int:
        """How many entries match (same filters as :meth:`query`)."""
        return len(self.query(**filters))


def body_json(raw: bytes | None) -> Any:
    """A captured body: its JSON value, or its text when it is not JSON (None when empty)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def record_ids_of(path: str, *bodies: Any) -> tuple[str, ...]:
    """The record ids a request names: in its path (``/objects/{type}/{id}``), and as ``id`` of
    the bodies, of their ``inputs`` and of their ``results``."""
    found: dict[str, None] = {}
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts[:-2]):
        if part == "objects" and parts[i + 2].isdigit():
            found[parts[i + 2]] = None
    for body in bodies:
        if not isinstance(body, dict):
            continue
        items = [
            body,
            *(x for key in ("inputs", "results") for x in body.get(key) or () if isinstance(x, dict)),
        ]
        for item in items:
            value = item.get("id")
            if isinstance(value, (str, int)) and str(value).isdigit():
                found[str(value)] = None
    return tuple(found)
