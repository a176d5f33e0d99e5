"""The sandbox's CRM data: contacts and companies, their writes, merges and associations.

Every write validates through the :class:`PropertyRegistry`, enforces HubSpot's uniqueness rules
(contacts by email, including ``hs_additional_emails``; custom ``hasUniqueValue`` properties per
object type; companies are *not* deduplicated by domain) and emits :class:`ChangeEvent` s to the
sink with the :class:`Writer` that made the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.sandbox.associations import PRIMARY, UNLABELED, type_ids
from hubsync.sandbox.errors import HubSpotApiError, not_found, validation_error
from hubsync.sandbox.events import ChangeEvent, Writer
from hubsync.sandbox.records import Record, make_record
from hubsync.sandbox.store_base import OBJECT_TYPES, CrmStoreBase
from hubsync.sandbox.store_load import creation_events, load_rows
from hubsync.sandbox.tables import Table, is_object_id

#: HubSpot refuses merges that would give a record more than this many merged identities
MAX_MERGED_IDS = 250


class CrmStore(CrmStoreBase):
    """In-memory HubSpot CRM for ``contact`` and ``company`` records."""

    # -- create / update -----------------------------------------------------------------------------

    def create(
        self,
        object_type: HubSpotObjectName,
        properties: Mapping[str, object],
        writer: Writer,
        *,
        allow_read_only: bool = False,
    ) -> Record:
        table = self.table(object_type)
        cleaned = self.registry.validate(
            object_type, properties, creating=True, allow_read_only=allow_read_only
        )
        values = {k: v for k, v in cleaned.items() if v}
        self._check_unique(table, values, None)
        ts = self.clock()
        record = make_record(self.layouts, table.allocate_id(), ts, values, self.writers.intern(writer))
        table.records[record.id] = record
        table.order.append(record.id)
        self._index(table, record, values)
        if self.listening:
            self._emit(creation_events(self, object_type, record, writer))
        return record

    def update(
        self,
        object_type: HubSpotObjectName,
        object_id: int | str,
        properties: Mapping[str, object],
        writer: Writer,
        *,
        id_property: str | None = None,
        allow_read_only: bool = False,
    ) -> Record:
        """Set (or, with ``None``/``""``, clear) properties. Unchanged values are no-ops: no event,
        no new modification time."""
        table = self.table(object_type)
        record = self._lookup(table, object_id, id_property)
        cleaned = self.registry.validate(
            object_type, properties, creating=False, allow_read_only=allow_read_only
        )
        self._apply(table, record, {k: v or "" for k, v in cleaned.items()}, writer)
        return record

    def _apply(
        self,
        table: Table,
        record: Record,
        wanted: Mapping[str, str],
        writer: Writer,
        *,
        extra: list[ChangeEvent] | None = None,
    ) -> int:
        """Write ``wanted`` (name -> value, "" clears) to ``record``; returns the write time."""
        current = record.values()
        changes = {k: v for k, v in wanted.items() if current.get(k, "") != v}
        if not changes and not extra:
            return record.updated_ms
        new_values = {**current, **changes}
        self._check_unique(
            table, {k: v for k, v in new_values.items() if k in changes or k == "email"}, record.id
        )
        ts = self._now(record)
        self._unindex(table, record, current)
        record.set_values(self.layouts, new_values)
        record.updated_ms = ts
        self._index(table, record, new_values)
        writer_index = self.writers.intern(writer)
        for name, value in changes.items():
            table.history.record_change(record, name, current.get(name), value, ts, writer_index)
        if self.listening:
            events = list(extra or [])
            events.extend(
                self._event(
                    table.object_type,
                    "propertyChange",
                    record.id,
                    ts,
                    writer,
                    property_name=name,
                    property_value=value,
                )
                for name, value in changes.items()
            )
            self._emit(events)
        return ts

    # -- archive / restore / GDPR delete ---------------------------------------------------------------

    def archive(self, object_type: HubSpotObjectName, object_id: int | str, writer: Writer) -> None:
        """Move a record to the recycle bin (idempotent for an already archived one)."""
        table = self.table(object_type)
        record = self._lookup(table, object_id, None, include_archived=True)
        if record.archived:
            return
        ts = self._now(record)
        self._unindex(table, record, record.values())
        record.archived_ms = record.updated_ms = ts
        table.archived.add(record.id)
        self._emit([self._event(object_type, "deletion", record.id, ts, writer)])

    def restore(self, object_type: HubSpotObjectName, object_id: int | str, writer: Writer) -> Record:
        table = self.table(object_type)
        record = self._lookup(table, object_id, None, include_archived=True)
        if not record.archived:
            return record
        values = record.values()
        self._check_unique(table, values, record.id)
        ts = self._now(record)
        record.archived_ms = None
        record.updated_ms = ts
        table.archived.discard(record.id)
        self._index(table, record, values)
        self._emit([self._event(object_type, "restore", record.id, ts, writer)])
        return record

    def gdpr_delete(self, object_id: int | str, writer: Writer, *, id_property: str | None = None) -> None:
        """Permanently delete a contact: fires ``privacyDeletion`` and ``deletion``."""
        table = self.table("contact")
        record = self._lookup(table, object_id, id_property, include_archived=True)
        ts = self._now(record)
        if not record.archived:
            self._unindex(table, record, record.values())
        del table.records[record.id]
        table.archived.discard(record.id)
        table.history.drop(record.id)
        table.aliases = {k: v for k, v in table.aliases.items() if v != record.id}
        table.compact_order()
        self.links.drop("contact", record.id)
        self.peer_links["contact"].drop(record.id)
        self._emit(
            [
                self._event("contact", "privacyDeletion", record.id, ts, writer),
                self._event("contact", "deletion", record.id, ts, writer),
            ]
        )

    # -- merge ---------------------------------------------------------------------------------------

    def merge(
        self, object_type: HubSpotObjectName, primary_id: int | str, merged_id: int | str, writer: Writer
    ) -> Record:
        """Merge ``merged_id`` into ``primary_id``. The primary keeps its id and its values (blank ones
        are filled from the merged record); the merged id then reads as the primary."""
        table = self.table(object_type)
        primary, merged = (
            self._merge_party(table, i, role) for i, role in ((primary_id, "primary"), (merged_id, "merged"))
        )
        if primary.id == merged.id:
            raise validation_error("Cannot merge an object with itself.")
        p_vals, m_vals = primary.values(), merged.values()
        earlier = _id_list(p_vals.get("hs_merged_object_ids")), _id_list(m_vals.get("hs_merged_object_ids"))
        merged_ids = [*earlier[0], merged.id, *earlier[1]]
        if len(merged_ids) >= MAX_MERGED_IDS:
            raise HubSpotApiError(
                414,
                "VALIDATION_ERROR",
                f"Object {primary.id} would have more than {MAX_MERGED_IDS} merged identities.",
            )
        wanted = {k: v for k, v in m_vals.items() if k not in p_vals and k not in _MERGE_SPECIAL}
        wanted["hs_merged_object_ids"] = ";".join(str(i) for i in merged_ids)
        if object_type == "contact":
            wanted.update(_merged_emails(p_vals, m_vals))
        ts = self._now(primary, merged)
        # the merged record leaves first, so its unique values can move to the primary
        self._unindex(table, merged, m_vals)
        del table.records[merged.id]
        table.compact_order()
        table.aliases[merged.id] = primary.id
        for alias, target in list(table.aliases.items()):
            if target == merged.id:
                table.aliases[alias] = primary.id
        table.history.move(merged.id, primary.id, wanted)
        merge_event = self._event(
            object_type,
            "merge",
            primary.id,
            ts,
            writer,
            primary_object_id=primary.id,
            merged_object_ids=(merged.id,),
            new_object_id=primary.id,
        )
        self._apply(table, primary, wanted, writer, extra=[merge_event])
        self._move_links(object_type, merged.id, primary.id, writer)
        return primary

    def _merge_party(self, table: Table, object_id: int | str, role: str) -> Record:
        text = str(object_id).strip()
        if not is_object_id(text):
            raise validation_error(f"{role} object id {object_id} is not a valid id")
        if int(text) in table.aliases:
            survivor = table.resolve_alias(int(text))
            raise validation_error(
                f"Object {text} was already merged into {survivor} and cannot be merged again."
            )
        record = table.records.get(int(text))
        if record is None:
            raise not_found(f"Object {text} not found")
        if record.archived:
            raise validation_error(f"Object {text} is archived and cannot be merged.")
        return record

    def _move_links(self, object_type: HubSpotObjectName, from_id: int, to_id: int, writer: Writer) -> None:
        same = self.peer_links[object_type]
        for peer in same.drop(from_id) - {to_id}:
            same.add(to_id, peer)
        for peer in self.links.drop(object_type, from_id):
            contact, company = (to_id, peer) if object_type == "contact" else (peer, to_id)
            self._link(contact, company, UNLABELED, writer)  # labels stay with the merged-away pair

    # -- associations --------------------------------------------------------------------------------

    def associate(self, contact_id: int, company_id: int, writer: Writer, *, primary: bool = False) -> None:
        self._require(contact_id, company_id)
        self._link(contact_id, company_id, UNLABELED | (PRIMARY if primary else 0), writer)

    def associate_flags(self, contact_id: int, company_id: int, flags: int, writer: Writer) -> None:
        """Add association types (``associations.UNLABELED`` / ``PRIMARY`` bits) to a pair."""
        self._require(contact_id, company_id)
        self._link(contact_id, company_id, flags | UNLABELED, writer)

    def dissociate(
        self, contact_id: int, company_id: int, writer: Writer, *, flags: int | None = None
    ) -> None:
        """Remove the association (or only the given labels; removing UNLABELED removes all)."""
        contact_id = self.canonical_id("contact", contact_id)
        company_id = self.canonical_id("company", company_id)
        current = self.links.flags(contact_id, company_id)
        remove = current if flags is None or flags & UNLABELED else current & flags
        if remove:
            self._set_flags(contact_id, company_id, current & ~remove, writer)

    def associate_peers(self, object_type: HubSpotObjectName, a: int, b: int) -> tuple[int, int]:
        """Associate two records of one type (unlabeled); returns their canonical ids. No webhook
        event: hubsync subscribes to contact-company association changes only."""
        first, second = self.get(object_type, a).id, self.get(object_type, b).id
        if first == second:
            raise validation_error(f"A {object_type} cannot be associated with itself.")
        self.peer_links[object_type].add(first, second)
        return first, second

    def dissociate_peers(self, object_type: HubSpotObjectName, a: int, b: int) -> None:
        self.peer_links[object_type].remove(
            self.canonical_id(object_type, a), self.canonical_id(object_type, b)
        )

    def _require(self, contact_id: int, company_id: int) -> None:
        self.get("contact", contact_id)
        self.get("company", company_id)

    def _link(self, contact_id: int, company_id: int, add: int, writer: Writer) -> None:
        contact_id = self.canonical_id("contact", contact_id)
        company_id = self.canonical_id("company", company_id)
        if add & PRIMARY:  # a contact has one primary company
            for other, flags in list(self.links.peers("contact", contact_id).items()):
                if other != company_id and flags & PRIMARY:
                    self._set_flags(contact_id, other, flags & ~PRIMARY, writer)
        current = self.links.flags(contact_id, company_id)
        if current | add != current:
            self._set_flags(contact_id, company_id, current | add, writer)

    def _set_flags(self, contact_id: int, company_id: int, flags: int, writer: Writer) -> None:
        before = self.links.flags(contact_id, company_id)
        self.links.set(contact_id, company_id, flags)
        ts = self.clock()
        events: list[ChangeEvent] = []
        sides: tuple[tuple[HubSpotObjectName, int, HubSpotObjectName, int], ...] = (
            ("contact", contact_id, "company", company_id),
            ("company", company_id, "contact", contact_id),
        )
        for changed, removed in ((flags & ~before, False), (before & ~flags, True)):
            for side, object_id, other, to_id in sides if changed else ():
                events.extend(
                    self._event(
                        side,
                        "associationChange",
                        object_id,
                        ts,
                        writer,
                        to_object_type=other,
                        to_object_id=to_id,
                        association_removed=removed,
                        association_type_id=type_id,
                    )
                    for type_id in type_ids(side, changed)
                )
        self._emit(events)

    # -- bulk load / reset ---------------------------------------------------------------------------

    def load(
        self,
        object_type: HubSpotObjectName,
        rows: Iterable[Mapping[str, str | None]],
        writer: Writer,
        *,
        emit_events: bool = False,
    ) -> list[int]:
        """Seed records fast (see :func:`~hubsync.sandbox.store_load.load_rows`)."""
        return load_rows(self, object_type, rows, writer, emit_events=emit_events)

    def reset(self) -> None:
        """Drop every record, alias and association (property definitions are the registry's)."""
        self.tables = {t: Table(t) for t in OBJECT_TYPES}
        self.links.clear()
        for peers in self.peer_links.values():
            peers.clear()


_MERGE_SPECIAL = frozenset({"hs_merged_object_ids", "email", "hs_additional_emails"})


def _id_list(text: str | None) -> list[int]:
    return [int(p) for p in text.split(";") if is_object_id(p.strip())] if text else []


def _merged_emails(p_vals: Mapping[str, str], m_vals: Mapping[str, str]) -> dict[str, str]:
    """The primary keeps its email (or takes the merged one); every other address becomes additional."""
    addresses: list[str] = []
    for vals in (p_vals, m_vals):
        for address in [vals.get("email", ""), *vals.get("hs_additional_emails", "").split(";")]:
            if address and address not in addresses:
                addresses.append(address)
    if not addresses:
        return {}
    primary = p_vals.get("email") or addresses[0]
    return {"email": primary, "hs_additional_emails": ";".join(a for a in addresses if a != primary)}
