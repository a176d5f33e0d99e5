"""Bulk seeding of the store: millions of records without per-record validation or events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, HubSpotObjectName
from hubsync.sandbox.errors import validation_error
from hubsync.sandbox.events import ChangeEvent, Writer
from hubsync.sandbox.records import Record, make_record
from hubsync.sandbox.store_base import CrmStoreBase
from hubsync.sandbox.tables import modified_key
from hubsync.sandbox.timefmt import parse_datetime_ms
from hubsync.sandbox.values import InvalidValue, normalize_email


def creation_events(
    store: CrmStoreBase, object_type: HubSpotObjectName, record: Record, writer: Writer
) -> list[ChangeEvent]:
    """``creation`` plus one ``propertyChange`` per value, as HubSpot reports a new record."""
    ts = record.created_ms
    events = [store._event(object_type, "creation", record.id, ts, writer)]
    events.extend(
        store._event(object_type, "propertyChange", record.id, ts, writer, property_name=n, property_value=v)
        for n, v in record.values().items()
    )
    return events


def load_rows(
    store: CrmStoreBase,
    object_type: HubSpotObjectName,
    rows: Iterable[Mapping[str, str | None]],
    writer: Writer,
    *,
    emit_events: bool = False,
) -> list[int]:
    """Seed records fast: names are checked, values are stored as given (emails lowercased).

    ``createdate`` and the modification property (epoch ms or ISO) backdate a row. The whole
    batch is checked for unknown properties and duplicate unique values before anything is stored.
    """
    table = store.table(object_type)
    modified = MODIFIED_PROPERTY[object_type]
    allowed = {p.name for p in store.registry.definitions(object_type) if not p.calculated}
    unique_names = store._unique_names(object_type)
    indexes = {n: store._unique_index(table, n) for n in unique_names}
    seen: dict[str, dict[str, int]] = {n: {} for n in unique_names}
    prepared: list[tuple[dict[str, str], int, int]] = []
    now = store.clock()
    for row_no, row in enumerate(rows):
        values, created, updated = _seed_row(row, allowed, modified, now)
        for name in unique_names:
            for value in store._unique_values(object_type, name, values):
                owner = indexes[name].get(value)
                if owner is None and value in seen[name]:
                    raise validation_error(f"Row {row_no} repeats {name} {value} of row {seen[name][value]}")
                if owner is not None:
                    raise store._duplicate(object_type, name, value, owner)
                seen[name][value] = row_no
        prepared.append((values, created, updated))
    writer_index = store.writers.intern(writer)
    ids: list[int] = []
    keys: list[int] = []
    for values, created, updated in prepared:
        record = make_record(store.layouts, table.allocate_id(), created, values, writer_index)
        record.updated_ms = max(updated, created)
        table.records[record.id] = record
        ids.append(record.id)
        keys.append(modified_key(record))
        for name in unique_names:
            for value in store._unique_values(object_type, name, values):
                indexes[name][value] = record.id
    table.order.extend(ids)
    table.by_modified.update(keys)
    if emit_events:
        events: list[ChangeEvent] = []
        for object_id in ids:
            events.extend(creation_events(store, object_type, table.records[object_id], writer))
        store._emit(events)
    return ids


def _seed_row(
    row: Mapping[str, str | None], allowed: set[str], modified: str, now: int
) -> tuple[dict[str, str], int, int]:
    values: dict[str, str] = {}
    created = updated = now
    for name, value in row.items():
        if value is None or value == "":
            continue
        if name == "createdate":
            created = _seed_time(name, value)
            continue
        if name == modified:
            updated = _seed_time(name, value)
            continue
        if name not in allowed:
            raise validation_error(f'Property "{name}" does not exist')
        if name == "email":
            try:
                value = normalize_email(value)
            except InvalidValue as problem:
                raise validation_error(problem.message) from None
        values[name] = value
    if modified not in row or not row.get(modified):
        updated = max(updated, created) if "createdate" not in row else created
    return values, created, updated


def _seed_time(name: str, value: str) -> int:
    ms = parse_datetime_ms(value)
    if ms is None:
        raise validation_error(f"{name}: {value} is not a valid timestamp")
    return ms
