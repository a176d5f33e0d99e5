"""A bounded log of the requests the sandbox answered, for tests and the control API.

The log is a ring buffer: once ``maxlen`` entries are held, each new one drops the oldest, so
memory stays flat however long a benchmark runs. Appending is O(1); queries scan the buffer
(10,000 entries by default) and are meant for assertions and the control API, not hot paths.
"""

from __future__ import annotations

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
        }


class RequestLog:
    """A ring buffer of :class:`LogEntry`. ``total`` counts every entry ever appended."""

    def __init__(self, maxlen: int = DEFAULT_SIZE) -> None:
        if maxlen <= 0:
            raise ValueError("maxlen must be positive")
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
