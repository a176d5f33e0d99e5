"""Records and batch results as the JSON of HubSpot's CRM v3 API (``SimplePublicObject`` ...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, PLURAL, HubSpotObjectName
from hubsync.hubspot_model.properties import DEFAULT_READ_PROPERTIES
from hubsync.sandbox.associations import type_ids
from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.records import Record
from hubsync.sandbox.store import CrmStore
from hubsync.sandbox.timefmt import iso_ms

_ALWAYS = ("hs_object_id", "createdate")


def read_names(object_type: HubSpotObjectName, requested: Sequence[str] | None) -> list[str]:
    """The properties a read returns: the requested ones (plus id and timestamps) or the defaults."""
    if not requested:
        return list(DEFAULT_READ_PROPERTIES[object_type])
    return list(dict.fromkeys([*requested, *_ALWAYS, MODIFIED_PROPERTY[object_type]]))


class RecordView:
    """How a request shows records, resolved once for all of them (a batch shows up to 100):
    which properties, which with their history, which associations."""

    def __init__(
        self,
        store: CrmStore,
        object_type: HubSpotObjectName,
        *,
        properties: Sequence[str] | None = None,
        all_properties: bool = False,
        with_history: Sequence[str] | None = None,
        associations: Iterable[HubSpotObjectName] = (),
    ) -> None:
        self.store = store
        self.object_type = object_type
        self.names = None if all_properties else read_names(object_type, properties)
        self.with_history = with_history
        self.associations = [other for other in associations if other != object_type]

    def __call__(self, record: Record) -> dict[str, Any]:
        store, object_type = self.store, self.object_type
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": store.properties_of(object_type, record, self.names),
            "createdAt": iso_ms(record.created_ms),
            "updatedAt": iso_ms(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived_ms is not None:
            body["archivedAt"] = iso_ms(record.archived_ms)
        if self.with_history:
            body["propertiesWithHistory"] = {
                name: history_json(store, object_type, record, name) for name in self.with_history
            }
        assoc: dict[str, Any] = {}
        for other in self.associations:
            results = associated_ids_json(store, object_type, record.id)
            if results:
                assoc[PLURAL[other]] = {"results": results}
        if assoc:
            body["associations"] = assoc
        return body


def record_json(
    store: CrmStore,
    object_type: HubSpotObjectName,
    record: Record,
    *,
    properties: Sequence[str] | None = None,
    all_properties: bool = False,
    with_history: Sequence[str] | None = None,
    associations: Iterable[HubSpotObjectName] = (),
) -> dict[str, Any]:
    """One record as a ``SimplePublicObject`` (for many, make one :class:`RecordView`)."""
    view = RecordView(
        store,
        object_type,
        properties=properties,
        all_properties=all_properties,
        with_history=with_history,
        associations=associations,
    )
    return view(record)


def history_json(
    store: CrmStore, object_type: HubSpotObjectName, record: Record, name: str
) -> list[dict[str, Any]]:
    entries = []
    for value, ts, writer in store.history_of(object_type, record, name):
        entry: dict[str, Any] = {"value": value, "timestamp": iso_ms(ts), "sourceType": writer.change_source}
        if writer.source_id is not None:
            entry["sourceId"] = writer.source_id
        entries.append(entry)
    return entries


def associated_ids_json(
    store: CrmStore, object_type: HubSpotObjectName, object_id: int
) -> list[dict[str, str]]:
    """v3 ``associations``: one entry per association type, e.g. ``contact_to_company`` (primary)
    and ``contact_to_company_unlabeled``."""
    other: HubSpotObjectName = "company" if object_type == "contact" else "contact"
    results = []
    for peer in store.associations(object_type, object_id):
        contact, company = (object_id, peer) if object_type == "contact" else (peer, object_id)
        for type_id in type_ids(object_type, store.association_flags(contact, company)):
            suffix = "" if type_id in (1, 2) else "_unlabeled"
            results.append({"id": str(peer), "type": f"{object_type}_to_{other}{suffix}"})
    return results


def batch_json(
    results: list[dict[str, Any]], errors: list[HubSpotApiError], started_ms: int, completed_ms: int
) -> dict[str, Any]:
    """A ``BatchResponse...`` body; ``errors``/``numErrors`` only when there are errors (the 207 shape)."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_ms(started_ms),
        "completedAt": iso_ms(completed_ms),
    }
    if errors:
        body["errors"] = [e.to_standard_error() for e in errors]
        body["numErrors"] = len(errors)
    return body
