"""Incremental reads through HubSpot's search API, split so no query passes the result cap.

HubSpot's search pages at most 200 records and serves at most 10,000 results per query. The
poller asks for records modified in ``[start, end)``, sorted by modification time; when a window
holds more than the cap, it is halved until each part fits. A window of one millisecond that
still holds more than the cap cannot be split further: it is read up to the cap and reported
(:class:`WindowOverflowError`), which on real portals needs >10,000 changes in one millisecond.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol

from hubsync.errors import FatalError
from hubsync.hubspot_model.limits import SEARCH_RESULT_CAP
from hubsync.hubspot_model.objects import MODIFIED_PROPERTY_OF_TYPE, HubSpotObjectType

PAGE_SIZE = 200


class SearchApi(Protocol):
    """What the poller needs of a HubSpot client: one search request."""

    async def search(self, object_type: HubSpotObjectType, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Window:
    """Records modified at ``start_ms <= t < end_ms``."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty window [{self.start_ms}, {self.end_ms})")

    def halves(self) -> tuple[Window, Window]:
        middle = self.start_ms + (self.end_ms - self.start_ms) // 2
        return Window(self.start_ms, middle), Window(middle, self.end_ms)

    def parts(self, n: int) -> list[Window]:
        """``n`` (or fewer, for a short window) consecutive windows covering this one."""
        span = self.end_ms - self.start_ms
        n = max(1, min(n, span))
        bounds = [self.start_ms + span * i // n for i in range(n)] + [self.end_ms]
        return [Window(a, b) for a, b in pairwise(bounds) if b > a]

    @property
    def splittable(self) -> bool:
        return self.end_ms - self.start_ms > 1


def modified_ms(record: Mapping[str, Any]) -> int:
    """A record's last modification (HubSpot's ``updatedAt``) in epoch milliseconds."""
    text = str(record["updatedAt"])
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


class WindowOverflowError(FatalError):
    """More than the result cap of changes within one millisecond: some cannot be read by search,
    so polling that type cannot go past them: a person must step in."""

    def __init__(self, window: Window, total: int) -> None:
        super().__init__(f"{total} records modified within {window}; search serves {SEARCH_RESULT_CAP}")
        self.window = window
        self.total = total


def search_body(
    object_type: HubSpotObjectType, window: Window, properties: list[str], after: str | None
) -> dict[str, Any]:
    modified = MODIFIED_PROPERTY_OF_TYPE[object_type]
    body: dict[str, Any] = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": modified, "operator": "GTE", "value": str(window.start_ms)},
                    {"propertyName": modified, "operator": "LT", "value": str(window.end_ms)},
                ]
            }
        ],
        "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
        "properties": sorted({*properties, modified}),
        "limit": PAGE_SIZE,
    }
    if after is not None:
        body["after"] = after
    return body


async def read_window(
    api: SearchApi, object_type: HubSpotObjectType, window: Window, properties: list[str]
) -> AsyncIterator[list[Mapping[str, Any]]]:
    """Pages of records modified in ``window``, oldest first, splitting it as needed.

    Windows are read in time order, so a caller that checkpoints after each page never skips
    records. Raises :class:`WindowOverflowError` for an unsplittable window over the cap.
    """
    pending = [window]
    while pending:
        current = pending.pop()
        first = await api.search(object_type, search_body(object_type, current, properties, None))
        total = int(first.get("total", 0))
        if total > SEARCH_RESULT_CAP:
            if not current.splittable:
                raise WindowOverflowError(current, total)
            # start at the oldest change (the first result) and cut the rest into parts that should
            # each fit, with a margin for uneven spreads; an unlucky part is split again
            results = first.get("results") or []
            oldest = modified_ms(results[0]) if results else current.start_ms
            narrowed = (
                Window(oldest, current.end_ms) if current.start_ms < oldest < current.end_ms else current
            )
            parts = (
                narrowed.parts(-(-total * 5 // (SEARCH_RESULT_CAP * 4)))
                if narrowed.splittable
                else [narrowed]
            )
            if parts == [current]:
                parts = list(current.halves())
            pending.extend(reversed(parts))  # the earliest is popped first
            continue
        page = first
        while True:
            results = list(page.get("results", []))
            if results:
                yield results
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after:
                break
            page = await api.search(object_type, search_body(object_type, current, properties, str(after)))
