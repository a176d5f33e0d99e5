"""Compact in-memory records.

A million contacts must fit in well under 2 GB, so a record is a ``__slots__`` object whose
property values live in one string (values joined by NUL) described by a shared, interned
:class:`Layout` (the sorted property names, like a hidden class). A record with eight properties
costs roughly 300 bytes instead of ~1 KB for a per-record dict of strings. Property history is
kept elsewhere, only for properties that changed after creation (see :class:`History`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from hubsync.sandbox.events import Writer

SEP = "\x00"


class Layout:
    """The property names a record has values for, in a fixed (sorted) order."""

    __slots__ = ("index", "names")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}


class Layouts:
    """Interns layouts so records with the same property set share one."""

    def __init__(self) -> None:
        self._by_names: dict[tuple[str, ...], Layout] = {}
        self.empty = self.get(())

    def get(self, names: tuple[str, ...]) -> Layout:
        layout = self._by_names.get(names)
        if layout is None:
            layout = self._by_names[names] = Layout(names)
        return layout

    def __len__(self) -> int:
        return len(self._by_names)


class Record:
    """One contact or company. Values are non-empty strings; an absent name has no value."""

    __slots__ = ("archived_ms", "blob", "created_ms", "id", "layout", "updated_ms", "writer")

    def __init__(self, object_id: int, created_ms: int, layout: Layout, blob: str, writer: int) -> None:
        self.id = object_id
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.archived_ms: int | None = None
        self.layout = layout
        self.blob = blob
        #: index of the creating :class:`Writer` in the store's writer table
        self.writer = writer

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None

    def values(self) -> dict[str, str]:
        """The stored (non-calculated) property values."""
        names = self.layout.names
        if not names:
            return {}
        if len(names) == 1:
            return {names[0]: self.blob}
        return dict(zip(names, self.blob.split(SEP), strict=True))

    def value(self, name: str) -> str | None:
        i = self.layout.index.get(name)
        if i is None:
            return None
        if len(self.layout.names) == 1:
            return self.blob
        return self.blob.split(SEP)[i]

    def set_values(self, layouts: Layouts, values: Mapping[str, str]) -> None:
        """Replace all stored values (empty strings are dropped: an empty value is no value)."""
        names = sorted([n for n, v in values.items() if v])
        parts = [values[n] for n in names]
        blob = SEP.join(parts)
        if blob.count(SEP) >= len(parts):  # a value holds the separator: it loses it
            blob = SEP.join([part.replace(SEP, "") for part in parts])
        self.layout = layouts.get(tuple(names))
        self.blob = blob

    def __repr__(self) -> str:
        return f"Record(id={self.id}, archived={self.archived}, values={self.values()!r})"


def make_record(
    layouts: Layouts, object_id: int, created_ms: int, values: Mapping[str, str], writer: int
) -> Record:
    record = Record(object_id, created_ms, layouts.empty, "", writer)
    record.set_values(layouts, values)
    return record


class WriterTable:
    """Interned writers, so a record or history entry stores a small int instead of an object."""

    def __init__(self) -> None:
        self._writers: list[Writer] = []
        self._index: dict[Writer, int] = {}

    def intern(self, writer: Writer) -> int:
        i = self._index.get(writer)
        if i is None:
            i = self._index[writer] = len(self._writers)
            self._writers.append(writer)
        return i

    def __getitem__(self, i: int) -> Writer:
        return self._writers[i]


#: (value, timestamp ms, writer index); value "" means the property was cleared
HistoryEntry = tuple[str, int, int]


class History:
    """Property history of records, kept only for properties that changed after creation.

    A property without an entry here has had its current value since the record was created
    (by the record's creating writer), which is how history is answered for it.
    """

    def __init__(self) -> None:
        self._entries: dict[int, dict[str, list[HistoryEntry]]] = {}

    def record_change(
        self, record: Record, name: str, old: str | None, new: str, ts: int, writer: int
    ) -> None:
        per_record = self._entries.setdefault(record.id, {})
        entries = per_record.get(name)
        if entries is None:
            entries = per_record[name] = []
            if old:
                entries.append((old, record.created_ms, record.writer))
        entries.append((new, ts, writer))

    def entries(self, record: Record, name: str, current: str | None) -> list[HistoryEntry]:
        """Newest first, as HubSpot lists ``propertiesWithHistory``."""
        entries = self._entries.get(record.id, {}).get(name)
        if entries is None:
            return [(current, record.created_ms, record.writer)] if current else []
        return list(reversed(entries))

    def move(self, from_id: int, to_id: int, names: Iterable[str]) -> None:
        """Carry the merged-away record's history of ``names`` over to the primary."""
        source = self._entries.pop(from_id, {})
        target = self._entries.setdefault(to_id, {})
        for name in names:
            if name in source and name not in target:
                target[name] = source[name]

    def drop(self, object_id: int) -> None:
        self._entries.pop(object_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)
