"""State, indexes and reads of :class:`~hubsync.sandbox.store.CrmStore` (writes live in store.py)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, OBJECT_TYPE_IDS, HubSpotObjectName
from hubsync.sandbox.associations import PRIMARY, Links, PeerLinks
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import ErrorDetail, HubSpotApiError, not_found, validation_error
from hubsync.sandbox.events import ChangeEvent, EventKind, EventSink, NullSink, Writer
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.records import Layouts, Record, WriterTable
from hubsync.sandbox.tables import Table, is_object_id, modified_key
from hubsync.sandbox.timefmt import iso_ms, now_ms

OBJECT_TYPES: tuple[HubSpotObjectName, ...] = ("contact", "company")
_LABELS = {"contact": "Contact", "company": "Company"}


class CrmStoreBase:
    def __init__(
        self,
        config: SandboxConfig,
        registry: PropertyRegistry,
        sink: EventSink,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.config = config
        self.registry = registry
        self.sink = sink
        self.clock = clock
        self.layouts = Layouts()
        self.writers = WriterTable()
        self.links = Links()
        #: associations between two records of one type
        self.peer_links: dict[HubSpotObjectName, PeerLinks] = {"contact": PeerLinks(), "company": PeerLinks()}
        self.tables: dict[HubSpotObjectName, Table] = {t: Table(t) for t in OBJECT_TYPES}
        #: the calculated properties: name -> its value for a record (None when it has none)
        self._calculated: dict[HubSpotObjectName, dict[str, Callable[[Record], str | None]]] = {
            "contact": {
                **_timestamps("contact"),
                "hs_email_domain": _email_domain,
                "associatedcompanyid": self._primary_company,
            },
            "company": {**_timestamps("company"), "num_associated_contacts": self._contact_count},
        }

    def table(self, object_type: HubSpotObjectName) -> Table:
        try:
            return self.tables[object_type]
        except KeyError:
            raise not_found(f"Unknown object type {object_type}") from None

    def _now(self, *records: Record) -> int:
        """The write time: the clock, but never before a touched record's last write."""
        now = self.clock()
        for record in records:
            now = max(now, record.updated_ms)
        return now

    @property
    def listening(self) -> bool:
        """Whether events go anywhere: with a :class:`NullSink` the hot write paths build none."""
        return not isinstance(self.sink, NullSink)

    def _emit(self, events: list[ChangeEvent]) -> None:
        if events:
            self.sink.emit(events)

    @staticmethod
    def _event(
        object_type: HubSpotObjectName, kind: EventKind, object_id: int, ts: int, writer: Writer, **kw: Any
    ) -> ChangeEvent:
        return ChangeEvent(object_type, kind, object_id, ts, writer, **kw)

    # -- unique values -----------------------------------------------------------------------------

    def _unique_names(self, object_type: HubSpotObjectName) -> tuple[str, ...]:
        names = self.registry.unique_names(object_type)
        return ("email", *names) if object_type == "contact" else names

    def _unique_index(self, table: Table, name: str) -> dict[str, int]:
        index = table.unique.get(name)
        if index is None:  # a unique property created after records exist: build its index once
            index = table.unique[name] = {}
            for record in table.iter_active():
                for value in self._unique_values(table.object_type, name, record.values()):
                    index.setdefault(value, record.id)
        return index

    @staticmethod
    def _unique_values(object_type: HubSpotObjectName, name: str, values: Mapping[str, str]) -> list[str]:
        if object_type == "contact" and name == "email":
            found = [values["email"]] if values.get("email") else []
            extra = values.get("hs_additional_emails")
            return found + [e for e in extra.split(";") if e] if extra else found
        value = values.get(name)
        return [value] if value else []

    def _check_unique(self, table: Table, values: Mapping[str, str], exclude_id: int | None) -> None:
        for name in self._unique_names(table.object_type):
            index = self._unique_index(table, name)
            for value in self._unique_values(table.object_type, name, values):
                owner = index.get(value)
                if owner is not None and owner != exclude_id:
                    raise self._duplicate(table.object_type, name, value, owner)

    def _duplicate(
        self, object_type: HubSpotObjectName, name: str, value: str, owner: int
    ) -> HubSpotApiError:
        label = _LABELS[object_type]
        if name == "email":
            message = f"{label} already exists. Existing ID: {owner}"
            detail = f"A contact with email {value} already exists. Existing ID: {owner}"
        else:
            message = f"{label} already exists. Existing ID: {owner}"
            detail = f"A {object_type} with {name} {value} already exists. Existing ID: {owner}"
        return HubSpotApiError(
            409,
            "CONFLICT",
            message,
            errors=[ErrorDetail(message=detail, code="DUPLICATE_VALUE", location=name)],
        )

    def _index(self, table: Table, record: Record, values: Mapping[str, str]) -> None:
        """Enter ``record`` (whose stored values are ``values``) in the table's indexes."""
        for name in self._unique_names(table.object_type):
            index = self._unique_index(table, name)
            for value in self._unique_values(table.object_type, name, values):
                index[value] = record.id
        table.by_modified.add(modified_key(record))

    def _unindex(self, table: Table, record: Record, values: Mapping[str, str]) -> None:
        """Take ``record`` (whose stored values are ``values``) out of the table's indexes."""
        for name, index in table.unique.items():
            for value in self._unique_values(table.object_type, name, values):
                if index.get(value) == record.id:
                    del index[value]
        table.by_modified.discard(modified_key(record))

    # -- lookups -----------------------------------------------------------------------------------

    def _lookup(
        self, table: Table, key: str | int, id_property: str | None, *, include_archived: bool = False
    ) -> Record:
        object_type = table.object_type
        if id_property in (None, "", "hs_object_id"):
            text = str(key).strip()
            record = table.records.get(table.resolve_alias(int(text))) if is_object_id(text) else None
        else:
            assert id_property is not None
            prop = self.registry.find(object_type, id_property)
            if prop is None or (
                not prop.has_unique_value and not (object_type == "contact" and id_property == "email")
            ):
                raise validation_error(
                    f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_IDS[object_type]} property "
                    f"{id_property} in portal ID {self.config.portal_id}"
                )
            value = str(key).strip().lower() if id_property == "email" else str(key)
            owner = self._unique_index(table, id_property).get(value)
            record = table.records.get(owner) if owner is not None else None
        if record is None or (record.archived and not include_archived):
            raise not_found()
        return record

    def get(
        self,
        object_type: HubSpotObjectName,
        object_id_or_value: str | int,
        *,
        id_property: str | None = None,
        include_archived: bool = False,
    ) -> Record:
        """A record by id (merged-away ids resolve to the survivor) or by a unique property value."""
        return self._lookup(
            self.table(object_type), object_id_or_value, id_property, include_archived=include_archived
        )

    def find(
        self, object_type: HubSpotObjectName, object_id_or_value: str | int, *, id_property: str | None = None
    ) -> Record | None:
        try:
            return self.get(object_type, object_id_or_value, id_property=id_property)
        except HubSpotApiError as error:
            if error.status == 404:
                return None
            raise

    def page(
        self, object_type: HubSpotObjectName, after: int, limit: int, *, archived: bool = False
    ) -> tuple[list[Record], int | None]:
        """Records with id >= ``after`` in id order, and the id to continue from (None at the end)."""
        table = self.table(object_type)
        ids = sorted(table.archived) if archived else table.order
        found: list[Record] = []
        for i in range(bisect.bisect_left(ids, after), len(ids)):
            record = table.records.get(ids[i])
            if record is None or record.archived != archived:
                continue
            if len(found) == limit:
                return found, record.id
            found.append(record)
        return found, None

    def count(self, object_type: HubSpotObjectName) -> int:
        return self.table(object_type).active_count()

    def canonical_id(self, object_type: HubSpotObjectName, object_id: int) -> int:
        return self.table(object_type).resolve_alias(object_id)

    # -- values ------------------------------------------------------------------------------------

    def value_of(self, object_type: HubSpotObjectName, record: Record, name: str) -> str | None:
        """A property value, calculated ones included."""
        calculated = self._calculated[object_type].get(name)
        return record.value(name) if calculated is None else calculated(record)

    def properties_of(
        self, object_type: HubSpotObjectName, record: Record, names: Iterable[str] | None = None
    ) -> dict[str, str]:
        """Values of ``names`` that have one; without names: every stored value plus system ones."""
        if names is None:
            values = record.values()
            values["hs_object_id"] = str(record.id)
            values["createdate"] = iso_ms(record.created_ms)
            values[MODIFIED_PROPERTY[object_type]] = iso_ms(record.updated_ms)
            return dict(sorted(values.items()))
        calculated = self._calculated[object_type]
        stored: dict[str, str] | None = None  # split from the record once, when first needed
        found = {}
        for name in names:
            getter = calculated.get(name)
            if getter is not None:
                value = getter(record)
            else:
                if stored is None:
                    stored = record.values()
                value = stored.get(name)
            if value:
                found[name] = value
        return found

    def _primary_company(self, contact: Record) -> str | None:
        primary = [c for c, f in self.links.peers("contact", contact.id).items() if f & PRIMARY]
        return str(primary[0]) if primary else None

    def _contact_count(self, company: Record) -> str:
        return str(len(self.associations("company", company.id)))

    def history_of(
        self, object_type: HubSpotObjectName, record: Record, name: str
    ) -> list[tuple[str, int, Writer]]:
        """(value, timestamp ms, writer) newest first; calculated properties report their current value."""
        table = self.table(object_type)
        stored = self.registry.find(object_type, name)
        if stored is not None and stored.calculated:
            value = self.value_of(object_type, record, name)
            ts = record.updated_ms if name == MODIFIED_PROPERTY[object_type] else record.created_ms
            return [(value, ts, self.writers[record.writer])] if value else []
        entries = table.history.entries(record, name, record.value(name))
        return [(value, ts, self.writers[w]) for value, ts, w in entries]

    def associations(self, object_type: HubSpotObjectName, object_id: int) -> list[int]:
        """Ids of the active records of the other type associated with this one, ascending."""
        other = self.tables["company" if object_type == "contact" else "contact"]
        peers = self.links.peers(object_type, object_id)
        return sorted(p for p in peers if (r := other.records.get(p)) is not None and r.archived_ms is None)

    def peer_associations(self, object_type: HubSpotObjectName, object_id: int) -> list[int]:
        """Ids of the active records of the same type associated with this one, ascending."""
        table = self.tables[object_type]
        peers = self.peer_links[object_type].peers(object_id)
        return sorted(p for p in peers if (r := table.records.get(p)) is not None and r.archived_ms is None)

    def association_flags(self, contact_id: int, company_id: int) -> int:
        return self.links.flags(contact_id, company_id)


def _timestamps(object_type: HubSpotObjectName) -> dict[str, Callable[[Record], str | None]]:
    def created(record: Record) -> str:
        return iso_ms(record.created_ms)

    def modified(record: Record) -> str:
        return iso_ms(record.updated_ms)

    return {
        "hs_object_id": lambda record: str(record.id),
        "createdate": created,
        "hs_createdate": created,
        MODIFIED_PROPERTY[object_type]: modified,
    }


def _email_domain(contact: Record) -> str | None:
    email = contact.value("email")
    return email.rsplit("@", 1)[1] if email else None
