"""Apply a batch of HubSpot change events to PostgreSQL, in the caller's transaction.

One call does, set-based (a fixed number of statements per batch, not per event):

1. lock and load the mirrored records the batch names (``FOR UPDATE``, in id order);
2. reduce every event into them (:mod:`hubsync.ingest.reducer`, pure);
3. run autofill / overwrite for the records the pull changed (:mod:`hubsync.mapping.rules`);
4. write the records (COPY into a staging table, then one INSERT and one UPDATE), their e-mail
   keys, association links and activity log;
5. flag potential duplicates and mark matching prospects (:mod:`hubsync.matching.duplicates`,
   :mod:`hubsync.matching.prospects`), and append the autofill/overwrite values to the outbox.

The caller commits (and only then acknowledges the Kafka offsets): see :mod:`hubsync.ingest.runner`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from hubsync.ingest.events import ChangeEvent
from hubsync.ingest.record_io import MAX_RECORD_LOCKS, RecordRow, load_records, lock_records, write_records
from hubsync.ingest.reducer import Activity, apply_event, apply_merged_away, placeholder
from hubsync.mapping.rules import MappingDecision, decide, mapped_values_event
from hubsync.mapping.store import MappingTable, load_prospects
from hubsync.mapping.values import PropertyDefinition
from hubsync.matching.duplicates import flag_duplicates
from hubsync.matching.prospects import mark_prospects
from hubsync.matching.record_keys import AccountKeys, ContactKeys, KeyMemo
from hubsync.records.kinds import RECORD_ID_PROPERTY, RECORD_TABLES, ObjectKind
from hubsync.records.state import SYNCED, RecordState, platform_version, version_of
from hubsync.storage.arrays import bool_array, int_array
from hubsync.storage.outbox import OutboxEvent, append_outbox
from hubsync.storage.portal_scope import current_portal


@dataclass(frozen=True, slots=True)
class IngestContext:
    """What a batch needs besides the events: the mappings, HubSpot's property definitions, and
    whether this is a replay (autofill/overwrite re-run for every record the batch names)."""

    mappings: MappingTable
    definitions: Mapping[ObjectKind, Mapping[str, PropertyDefinition]]
    replay: bool = False
    #: the most records, and matching keys, a batch locks one by one (``ingest_max_locks``)
    max_locks: int = MAX_RECORD_LOCKS


@dataclass(slots=True)
class BatchResult:
    """Counts for metrics and the record ids whose canonical record changed (for ``crm.*``)."""

    events: int = 0
    applied: int = 0
    created: int = 0
    duplicates_flagged: int = 0
    autofills: int = 0
    overwrites: int = 0
    rejected_values: int = 0
    outbox_events: int = 0
    touched: dict[ObjectKind, set[int]] = field(default_factory=lambda: {"contact": set(), "account": set()})


@dataclass(slots=True)
class _Batch:
    """Working state of one batch: records by (kind, HubSpot id), with their keys as loaded."""

    states: dict[tuple[ObjectKind, str], RecordState] = field(default_factory=dict)
    loaded_keys: dict[tuple[ObjectKind, str], Any] = field(default_factory=dict)
    loaded_status: dict[tuple[ObjectKind, str], str] = field(default_factory=dict)
    activities: list[tuple[ObjectKind, Activity]] = field(default_factory=list)
    eligible: dict[tuple[ObjectKind, str], ChangeEvent] = field(default_factory=dict)
    links: list[tuple[str, str, bool, int, bool]] = field(default_factory=list)
    #: mirrors folded into the platform record they turned out to mirror (see _fold_mirrors)
    folded: dict[ObjectKind, list[int]] = field(default_factory=lambda: {"contact": [], "account": []})
    #: the matching keys of the batch's records, each computed once per set of values
    keys_of: KeyMemo = field(default_factory=KeyMemo)


def _referenced_ids(events: Sequence[ChangeEvent]) -> dict[ObjectKind, set[str]]:
    ids: dict[ObjectKind, set[str]] = {"contact": set(), "account": set()}
    for event in events:
        ids[event.kind].add(event.object_id)
        if event.merge is not None:
            ids[event.kind].update(event.merge.away)
        if event.association is not None:
            ids["contact"].add(event.association.contact_id)
            ids["account"].add(event.association.company_id)
        if event.kind == "contact":
            ids["account"].update(event.associated_company_ids)
    return ids


def _named_record(event: ChangeEvent) -> int | None:
    """The platform record id the event's ``hubsync_record_id`` names (None: none, or not an id)."""
    raw = event.properties.get(RECORD_ID_PROPERTY)
    return int(raw) if raw and raw.isdigit() else None


def _platform_record_ids(
    events: Sequence[ChangeEvent], known: set[tuple[ObjectKind, str]]
) -> dict[ObjectKind, dict[int, str]]:
    """Platform record ids named by ``hubsync_record_id`` on HubSpot records not mirrored yet."""
    wanted: dict[ObjectKind, dict[int, str]] = {"contact": {}, "account": {}}
    for event in events:
        named = _named_record(event)
        if named is not None and (event.kind, event.object_id) not in known:
            wanted[event.kind].setdefault(named, event.object_id)
    return wanted


def _load(
    conn: psycopg.Connection[Any], events: Sequence[ChangeEvent], batch: _Batch, portal: int, max_locks: int
) -> None:
    referenced = _referenced_ids(events)
    lock_records(conn, referenced, portal=portal, max_locks=max_locks)
    for kind, hubspot_ids in referenced.items():
        for row in load_records(conn, kind, hubspot_ids=sorted(hubspot_ids)):
            batch.states[(kind, row.state.hubspot_id)] = row.state
            batch.loaded_keys[(kind, row.state.hubspot_id)] = batch.keys_of(kind, row.state.properties)
            batch.loaded_status[(kind, row.state.hubspot_id)] = row.state.crm_status
    for kind, by_record in _platform_record_ids(events, set(batch.states)).items():
        if not by_record:
            continue
        for row in load_records(conn, kind, record_ids=sorted(by_record), unlinked_only=True):
            hubspot_id = by_record[row.state.record_id or 0]
            state = row.state
            batch.loaded_keys[(kind, hubspot_id)] = batch.keys_of(kind, state.properties)
            state.hubspot_id = hubspot_id
            state.crm_status = SYNCED
            state.dirty = True
            batch.states[(kind, hubspot_id)] = state
            batch.activities.append(
                (
                    kind,
                    Activity(hubspot_id, "linked_to_hubspot", None, None, detail={"hubspot_id": hubspot_id}),
                )
            )


_FOLD = (
    "UPDATE {table} SET hubspot_id = NULL, crm_status = 'merged_in_platform', merged_into_id = %s,"
    " updated_at = now() WHERE id = %s"
)
_FOLD_ACTIVITY = (
    "INSERT INTO hubsync.activity_log_all (portal_id, object_type, record_id, action, before, after, rule,"
    " cause_source, detail) VALUES (%s, %s, %s, 'merged_in_platform', %s, '\"merged_in_platform\"',"
    " 'platform', 'ingest', %s)"
)


def _fold_mirrors(
    conn: psycopg.Connection[Any], events: Sequence[ChangeEvent], batch: _Batch, portal: int
) -> None:
    """A HubSpot record already mirrored as a HubSpot-born record X whose ``hubsync_record_id``
    names another, unlinked platform record R: HubSpot created it for R (only hubsync's upserts
    set that property), and X was made from an event that came before the push agent stored the
    link (its answer lost, or the agent killed after the call). R takes the HubSpot id; X is merged
    into R, with an activity row on each, and both canonical records are published."""
    wanted: dict[ObjectKind, dict[int, str]] = {"contact": {}, "account": {}}
    for event in events:
        named = _named_record(event)
        state = batch.states.get((event.kind, event.object_id))
        if (
            named is not None
            and state is not None
            and state.record_id not in (None, named)
            and state.creation_source in ("hubspot", "manual_pull")
        ):
            wanted[event.kind].setdefault(named, event.object_id)
    for kind, by_record in wanted.items():
        if not by_record:
            continue
        table = RECORD_TABLES[kind]
        for row in load_records(conn, kind, record_ids=sorted(by_record), unlinked_only=True):
            owner = row.state
            hubspot_id = by_record[owner.record_id or 0]
            mirror = batch.states[(kind, hubspot_id)]
            conn.execute(_FOLD.format(table=table), (owner.record_id, mirror.record_id))
            detail_json = {"role": "merged", "merged_into": owner.record_id, "reason": "mirror"}
            conn.execute(
                _FOLD_ACTIVITY,
                (
                    portal,
                    kind,
                    mirror.record_id,
                    orjson.dumps(mirror.crm_status).decode(),
                    orjson.dumps(detail_json).decode(),
                ),
            )
            batch.folded[kind].append(int(mirror.record_id or 0))
            batch.loaded_keys[(kind, hubspot_id)] = batch.keys_of(kind, owner.properties)
            batch.loaded_status[(kind, hubspot_id)] = owner.crm_status
            owner.hubspot_id, owner.crm_status, owner.dirty = hubspot_id, SYNCED, True
            batch.states[(kind, hubspot_id)] = owner
            detail = {"hubspot_id": hubspot_id, "folded_mirror": mirror.record_id}
            batch.activities.append(
                (kind, Activity(hubspot_id, "linked_to_hubspot", None, None, detail=detail))
            )


def _state(batch: _Batch, kind: ObjectKind, hubspot_id: str, event: ChangeEvent, reason: str) -> RecordState:
    state = batch.states.get((kind, hubspot_id))
    if state is None:
        state, activity = placeholder(hubspot_id, event, reason)
        batch.states[(kind, hubspot_id)] = state
        batch.activities.append((kind, activity))
    return state


def _reduce(events: Sequence[ChangeEvent], batch: _Batch, result: BatchResult, replay: bool) -> None:
    for event in events:
        key = (event.kind, event.object_id)
        if (
            event.change_type in ("MERGE", "ASSOCIATION_CHANGE")
            and event.merge is None
            and event.association is None
        ):
            continue
        if event.merge is not None:
            for away in event.merge.away:
                state, acts = apply_merged_away(
                    batch.states.get((event.kind, away)), away, event.merge.survivor, event
                )
                batch.states[(event.kind, away)] = state
                batch.activities.extend((event.kind, a) for a in acts)
                result.applied += bool(acts)
            continue
        if event.association is not None:
            assoc = event.association
            known = batch.states.get(("contact", assoc.contact_id))
            if known is not None and (
                known.erased
                or (known.crm_status == "merged_in_crm" and event.version > (known.crm_status_at or 0))
            ):
                continue  # an erased or merged-away contact gets no new links
            _state(batch, "contact", assoc.contact_id, event, "association")
            _state(batch, "account", assoc.company_id, event, "association")
            batch.links.append(
                (assoc.contact_id, assoc.company_id, not assoc.removed, event.version, assoc.is_primary)
            )
            result.applied += 1
            continue
        state, applied = apply_event(batch.states.get(key), event)
        batch.states[key] = state
        batch.activities.extend((event.kind, a) for a in applied.activities)
        result.applied += bool(applied.activities or applied.changed)
        result.created += applied.created
        if applied.mapping_eligible or (replay and state.crm_status == SYNCED and not state.erased):
            batch.eligible[key] = event
        if event.kind == "contact" and not applied.ignored:
            for company_id in event.associated_company_ids:
                _state(batch, "account", company_id, event, "association")
                batch.links.append((event.object_id, company_id, True, event.version, False))


def _run_mappings(
    conn: psycopg.Connection[Any], batch: _Batch, ctx: IngestContext, result: BatchResult, now_ms: int
) -> dict[tuple[ObjectKind, str], list[MappingDecision]]:
    """Autofill / overwrite for the eligible records; their decisions are applied to the states."""
    if not batch.eligible:
        return {}
    keys = {key: batch.keys_of(key[0], batch.states[key].properties) for key in batch.eligible}
    emails = {k.primary_email for k in keys.values() if isinstance(k, ContactKeys) and k.primary_email}
    domains = {k.domain_root for k in keys.values() if isinstance(k, AccountKeys) and k.domain_root}
    prospects = load_prospects(conn, emails=emails, domain_roots=domains)
    out: dict[tuple[ObjectKind, str], list[MappingDecision]] = {}
    active_of = {kind: ctx.mappings.active(kind) for kind in RECORD_TABLES}
    for key, event in batch.eligible.items():
        kind, hubspot_id = key
        active = active_of[kind]
        if not active:
            continue
        k = keys[key]
        if isinstance(k, ContactKeys):
            prospect = prospects.people.get(k.primary_email) if k.primary_email else None
        else:
            prospect = prospects.organizations.get(k.domain_root) if k.domain_root else None
        if prospect is None:
            continue
        state = batch.states[key]
        # a value a person set by hand is never replaced by autofill/overwrite (manual precedence)
        unlocked = [m for m in active if not _manual(state.versions.get(m.hubspot_property))]
        outcome = decide(unlocked, state.properties, prospect, ctx.definitions.get(kind, {}))
        for decision in outcome.decisions:
            state.properties[decision.hubspot_property] = decision.after
            state.versions[decision.hubspot_property] = platform_version(
                now_ms, decision.rule, state.versions.get(decision.hubspot_property), decision.before
            )
            state.dirty = True
            action = "autofilled" if decision.rule == "autofill" else "overwritten"
            result.autofills += decision.rule == "autofill"
            result.overwrites += decision.rule == "overwrite"
            batch.activities.append(
                (
                    kind,
                    Activity(
                        hubspot_id,
                        action,
                        event.source,
                        event.event_id,
                        field=decision.hubspot_property,
                        before=decision.before,
                        after=decision.after,
                        rule=decision.rule,
                    ),
                )
            )
        for rejected in outcome.rejected:
            result.rejected_values += 1
            batch.activities.append(
                (
                    kind,
                    Activity(
                        hubspot_id,
                        "value_rejected",
                        event.source,
                        event.event_id,
                        field=rejected.hubspot_property,
                        after=rejected.value,
                        rule=rejected.rule,
                        detail={"reason": rejected.reason},
                    ),
                )
            )
        if outcome.decisions:
            out[key] = list(outcome.decisions)
    return out


def _manual(stored: Any) -> bool:
    """The stored value was set by hand and HubSpot has not changed it since."""
    return stored is not None and version_of(stored)[1] == "manual"


def _write_links(
    conn: psycopg.Connection[Any],
    links: list[tuple[str, str, bool, int, bool]],
    ids: Mapping[tuple[ObjectKind, str], int],
) -> None:
    if not links:
        return
    rows = [
        (ids[("contact", c)], ids[("account", a)], active, at, primary and active)
        for c, a, active, at, primary in links
    ]
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO hubsync.contact_account_links AS l
                   (contact_id, account_id, is_primary, changed_at, removed_at)
            SELECT DISTINCT ON (c, a) c, a, false, to_timestamp(at / 1000.0),
                   CASE WHEN active THEN NULL ELSE to_timestamp(at / 1000.0) END
            FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[], %s::bigint[]) AS u(c, a, active, at)
            ORDER BY c, a, at DESC, active ASC
            ON CONFLICT (contact_id, account_id) DO UPDATE
               SET changed_at = EXCLUDED.changed_at, removed_at = EXCLUDED.removed_at,
                   is_primary = l.is_primary AND EXCLUDED.removed_at IS NULL
             WHERE l.changed_at IS NULL OR l.changed_at < EXCLUDED.changed_at
                OR (l.changed_at = EXCLUDED.changed_at AND EXCLUDED.removed_at IS NOT NULL)
            RETURNING contact_id, account_id
            """,
            (
                int_array(r[0] for r in rows),
                int_array(r[1] for r in rows),
                bool_array(r[2] for r in rows),
                int_array(r[3] for r in rows),
            ),
        )
        written = {(c, a) for c, a in cur.fetchall()}
        # a primary association moves the primary only when it was written (not older than the
        # stored link) and is not older than the current primary's link
        primaries = sorted(
            {(at, c, a) for c, a, active, at, primary in rows if primary and (c, a) in written},
        )
        for at, contact_id, account_id in primaries:
            cur.execute(
                "UPDATE hubsync.contact_account_links SET is_primary = (account_id = %(a)s)"
                " WHERE contact_id = %(c)s AND removed_at IS NULL AND NOT EXISTS ("
                "   SELECT 1 FROM hubsync.contact_account_links p WHERE p.contact_id = %(c)s"
                "      AND p.is_primary AND p.removed_at IS NULL AND p.account_id <> %(a)s"
                "      AND p.changed_at > to_timestamp(%(at)s / 1000.0))",
                {"a": account_id, "c": contact_id, "at": at},
            )


def _write_activities(
    conn: psycopg.Connection[Any],
    activities: Iterable[tuple[ObjectKind, Activity]],
    ids: Mapping[tuple[ObjectKind, str], int],
    portal: int,
) -> None:
    dumps = orjson.dumps

    def js(value: Any) -> str | None:
        return None if value is None else dumps(value).decode()

    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY hubsync.activity_log_all (portal_id, object_type, record_id, action, field, before, after,"
            " rule, cause_source, cause_event, detail) FROM STDIN"
        ) as copy,
    ):
        for kind, a in activities:
            copy.write_row(
                (
                    portal,
                    kind,
                    ids[(kind, a.hubspot_id)],
                    a.action,
                    a.field,
                    js(a.before),
                    js(a.after),
                    a.rule,
                    a.cause_source,
                    a.cause_event,
                    dumps(a.detail if type(a.detail) is dict else dict(a.detail)).decode(),
                )
            )


def _erase_history(conn: psycopg.Connection[Any], record_ids: list[int]) -> None:
    """A privacy deletion also scrubs the values earlier activity rows hold (the rows stay)."""
    if not record_ids:
        return
    conn.execute(
        "UPDATE hubsync.activity_log SET before = NULL, after = NULL, detail = detail || '{\"erased\": true}'"
        " WHERE object_type = 'contact' AND record_id = ANY(%s) AND action <> 'privacy_deleted'",
        (record_ids,),
    )


def apply_batch(
    conn: psycopg.Connection[Any], events: Sequence[ChangeEvent], ctx: IngestContext
) -> BatchResult:
    """Apply ``events`` (in delivery order) inside ``conn``'s open transaction."""
    now_ms = int(time.time() * 1000)
    result = BatchResult(events=len(events))
    batch = _Batch()
    # the portal the transaction works in, read once and handed to every writer that needs it
    portal = current_portal(conn)
    _load(conn, events, batch, portal, ctx.max_locks)
    _fold_mirrors(conn, events, batch, portal)
    _reduce(events, batch, result, ctx.replay)
    decisions = _run_mappings(conn, batch, ctx, result, now_ms)

    dirty = [(kind, state) for (kind, _), state in batch.states.items() if state.dirty]
    rows = [RecordRow(kind, state, batch.keys_of(kind, state.properties)) for kind, state in dirty]
    ids = write_records(conn, rows, old_keys=batch.loaded_keys, portal=portal)
    for (kind, hubspot_id), state in batch.states.items():
        if state.record_id is not None:
            ids.setdefault((kind, hubspot_id), state.record_id)
        # every record the batch named, changed or not: a redelivery republishes its canonical record
        result.touched[kind].add(ids[(kind, hubspot_id)])
    _write_links(conn, batch.links, ids)
    _write_activities(conn, batch.activities, ids, portal)
    _erase_history(
        conn, [ids[("contact", s.hubspot_id)] for k, s in dirty if k == "contact" and s.erased_now]
    )

    changed_keys: dict[ObjectKind, list[int]] = defaultdict(list)
    # the keys of the records this batch inserted, which duplicate detection need not read back
    inserted: dict[ObjectKind, dict[int, Any]] = defaultdict(dict)
    for kind, folded in batch.folded.items():  # their open pairs go, the merged-away record with them
        changed_keys[kind].extend(folded)
        result.touched[kind].update(folded)
    emails: set[str] = set()
    domains: set[str] = set()
    for row in rows:
        rid = ids[(row.kind, row.state.hubspot_id)]
        result.touched[row.kind].add(rid)
        old = batch.loaded_keys.get((row.kind, row.state.hubspot_id))
        keys_changed = old != row.keys or row.state.record_id is None
        if keys_changed:
            changed_keys[row.kind].append(rid)
        if row.state.record_id is None and not row.state.erased:
            inserted[row.kind][rid] = row.keys
        # prospects follow the keys and the CRM status (a deletion offers the prospect again)
        if keys_changed or batch.loaded_status.get((row.kind, row.state.hubspot_id)) != row.state.crm_status:
            for k in (old, row.keys):
                if k is None:
                    continue
                if row.kind == "contact":
                    emails.update(k.emails)
                elif k.domain_root:
                    domains.add(k.domain_root)
    for kind, record_ids in changed_keys.items():
        pairs = flag_duplicates(
            conn,
            kind,
            sorted(record_ids),
            cause_source="ingest",
            max_key_locks=ctx.max_locks,
            portal=portal,
            inserted=inserted[kind],
        )
        result.duplicates_flagged += len(pairs)
        for pair in pairs:
            result.touched[kind].update((pair.record_a, pair.record_b))
    if emails or domains:
        mark_prospects(conn, emails=emails, domain_roots=domains)

    outbox: list[OutboxEvent] = []
    occurred = datetime.fromtimestamp(now_ms / 1000, UTC)
    for (kind, hubspot_id), made in decisions.items():
        event = batch.eligible[(kind, hubspot_id)]
        outbox.append(
            mapped_values_event(kind, ids[(kind, hubspot_id)], hubspot_id, made, occurred, event.event_id)
        )
    if outbox:
        append_outbox(conn, outbox)
        result.outbox_events = len(outbox)
    return result
