"""Per-object-type storage: records, id order, aliases of merged ids, and the indexes.

Indexes: ``by_modified`` orders active records by modification time (one int key per record,
``updated_ms << 40 | id``) for the poller's search; ``unique`` maps a unique property's value to the
record holding it (contacts: ``email`` also holds every address of ``hs_additional_emails``).
Archived records stay in ``records`` but leave the indexes, freeing their unique values.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.sandbox.records import History, Record

ID_BITS = 40
ID_MASK = (1 << ID_BITS) - 1


def is_object_id(text: str) -> bool:
    """Whether ``text`` can be a record id: at most 32 ASCII digits (``str.isdigit`` also admits
    ``²`` and other digits that ``int`` refuses or reads as different numbers, and ``int`` refuses
    strings of more than 4300 digits)."""
    return len(text) <= 32 and text.isascii() and text.isdigit()


def modified_key(record: Record) -> int:
    return (record.updated_ms << ID_BITS) | record.id


def key_bounds(low_ms: int | None, high_ms: int | None) -> tuple[int | None, int | None]:
    """Index keys bracketing ``low_ms <= updated < high_ms`` (either side open when None)."""
    return (
        None if low_ms is None else low_ms << ID_BITS,
        None if high_ms is None else high_ms << ID_BITS,
    )


class Table:
    def __init__(self, object_type: HubSpotObjectName, first_id: int = 1) -> None:
        self.object_type = object_type
        self.records: dict[int, Record] = {}
        #: ids in creation (= ascending) order; entries of removed records are skipped lazily
        self.order: list[int] = []
        self.archived: set[int] = set()
        #: merged-away id -> surviving id
        self.aliases: dict[int, int] = {}
        self.by_modified: SortedList = SortedList()
        self.unique: dict[str, dict[str, int]] = {}
        self.history = History()
        self.next_id = first_id

    def allocate_id(self) -> int:
        object_id = self.next_id
        self.next_id += 1
        return object_id

    def resolve_alias(self, object_id: int) -> int:
        seen = 0
        while object_id in self.aliases and seen < 1000:
            object_id = self.aliases[object_id]
            seen += 1
        return object_id

    def active_count(self) -> int:
        return len(self.records) - len(self.archived)

    def iter_active(self) -> Iterator[Record]:
        for record in self.records.values():
            if record.archived_ms is None:
                yield record

    def compact_order(self) -> None:
        """Drop ids of removed records from ``order`` once they are a sizeable share of it."""
        if len(self.order) > 1024 and len(self.order) > 2 * len(self.records):
            self.order = [i for i in self.order if i in self.records]
