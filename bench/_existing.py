"""Ingest at scale: a database that already holds N contacts, the events that hit it, and the oracle.

:func:`seeded_template` migrates a database, seeds the default settings and mappings, and writes
``existing`` contacts through ingest's own reducer and record writer (``apply_event`` +
``write_records``: the rows, property versions, derived columns and e-mail keys ingest would have
written), then the prospect people of the new contacts. Each loader of a trial gets a copy of it
(``CREATE DATABASE ... TEMPLATE``), so the raw loader and the worker start from the same state.

:func:`scale_events` makes the trial's events, the same mix at every scale: ``updates`` of distinct
existing contacts (their ``lastname`` changed, a day newer: the version guard must take them, and
their name keys change) and ``new`` contacts (2% planted duplicate e-mails among them).

:func:`check_against_oracle` compares the worker's PostgreSQL state with what the events must give:
every contact, the HubSpot values of every touched one (autofilled values where HubSpot's was
empty and a prospect had one), one ``created_from_hubspot`` activity per new contact, one ``updated`` per
update, every planted duplicate e-mail pair flagged, and a canonical record on ``crm.contacts`` for
every touched contact. Any difference fails the benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql

from bench._change_events import contact_snapshot_events
from hubsync.ingest.events import change_event
from hubsync.ingest.record_io import RecordRow, write_records
from hubsync.ingest.reducer import apply_event
from hubsync.matching.keys import normalize_email
from hubsync.matching.record_keys import keys_of
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.portal_scope import current_portal
from hubsync.testing.databases import with_database

DAY_MS = 86_400_000
PROSPECT_SHARE = 10  # one new contact in ten has a prospect-database person
PROSPECT = {"jobtitle": "Head of Data", "city": "Lisbon", "phone": "+351 21 0000000"}
AUTOFILLED = ("jobtitle", "phone", "city")
CHECKED = ("email", "firstname", "lastname", "company", *AUTOFILLED)
_WRITE_CHUNK = 5_000


@dataclass
class ScaleEvents:
    """A trial's events (in production order) and what the oracle needs to know about them."""

    existing: int
    events: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    #: HubSpot id -> the properties the worker must end with (before autofill)
    expected: dict[str, dict[str, str | None]] = field(default_factory=dict)
    new_ids: set[str] = field(default_factory=set)
    updated_ids: set[str] = field(default_factory=set)
    prospect_emails: set[str] = field(default_factory=set)


def _existing_events(n: int) -> Iterator[tuple[bytes, dict[str, Any]]]:
    return contact_snapshot_events(n, seed=1, duplicate_ratio=0.0, start_id=1)


def scale_events(existing: int, new: int, updates: int, *, seed: int = 5) -> ScaleEvents:
    """``updates`` of distinct existing contacts and ``new`` contacts, shuffled together."""
    out = ScaleEvents(existing)
    rng = random.Random(seed)
    wanted = set(rng.sample(range(1, existing + 1), min(updates, existing)))
    for key, value in _existing_events(existing):
        if int(value["object_id"]) not in wanted:
            continue
        value = _updated(value)
        out.events.append((key, value))
        out.updated_ids.add(value["object_id"])
        out.expected[value["object_id"]] = dict(value["properties"])
    for i, (key, value) in enumerate(contact_snapshot_events(new, seed=seed, start_id=existing + 1)):
        out.events.append((key, value))
        out.new_ids.add(value["object_id"])
        out.expected[value["object_id"]] = dict(value["properties"])
        email = normalize_email(value["properties"].get("email"))
        if i % PROSPECT_SHARE == 0 and email:
            out.prospect_emails.add(email)
    rng.shuffle(out.events)
    return out


def _updated(value: dict[str, Any]) -> dict[str, Any]:
    """The same contact a day after its last change, with another last name."""
    at = int(value["updated_at"]) + DAY_MS
    properties = {**value["properties"], "lastname": f"{value['properties']['lastname']}-Updated"}
    stamps = {**value["property_timestamps"], "lastname": at}
    return {
        **value,
        "event_id": f"{value['object_id']}:{at}",
        "occurred_at": at,
        "updated_at": at,
        "properties": properties,
        "property_timestamps": stamps,
    }


def seeded_template(server_url: str, name: str, scale: ScaleEvents) -> str:
    """Create database ``name`` holding ``scale.existing`` contacts and the prospects; its URL."""
    url = copy_of(server_url, "template0", name)
    migrate(url)
    with psycopg.connect(url) as conn:
        seed_defaults(conn, load_defaults())
        portal = current_portal(conn)
        rows: list[RecordRow] = []
        for _key, value in _existing_events(scale.existing):
            state, _ = apply_event(None, change_event(value))
            rows.append(RecordRow("contact", state, keys_of("contact", state.properties)))
            if len(rows) >= _WRITE_CHUNK:
                write_records(conn, rows, old_keys={})
                conn.commit()
                rows.clear()
        if rows:
            write_records(conn, rows, old_keys={})
        attributes = orjson.dumps(PROSPECT).decode()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY hubsync.prospect_people_all (portal_id, email_normalized, attributes) FROM STDIN"
            ) as copy,
        ):
            for email in sorted(scale.prospect_emails):
                copy.write_row((portal, email, attributes))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def copy_of(server_url: str, template: str, name: str) -> str:
    """A new database ``name`` copied from ``template`` (nobody may be connected to it); its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return with_database(server_url, name)


def drop(server_url: str, *names: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _expected_properties(scale: ScaleEvents, hubspot_id: str) -> dict[str, str | None]:
    props = scale.expected[hubspot_id]
    out = {name: props.get(name) or None for name in CHECKED}
    if normalize_email(props.get("email")) in scale.prospect_emails:
        for name in AUTOFILLED:
            out[name] = out[name] or PROSPECT[name]
    return out


def _planted_pairs(scale: ScaleEvents) -> set[frozenset[str]]:
    """HubSpot id pairs among the new contacts sharing a normalized e-mail address."""
    by_email: dict[str, list[str]] = {}
    for hubspot_id in scale.new_ids:
        props = scale.expected[hubspot_id]
        emails = [props.get("email"), *(props.get("hs_additional_emails") or "").split(";")]
        for email in {normalize_email(e) for e in emails if e} - {None}:
            by_email.setdefault(str(email), []).append(hubspot_id)
    return {frozenset((a, b)) for ids in by_email.values() for a in ids for b in ids if a < b}


def check_against_oracle(url: str, scale: ScaleEvents, crm_messages: int) -> list[str]:
    """What differs between the worker's database (and ``crm_messages``, the number of messages
    on its ``crm.contacts`` topic) and what the events must give; empty when nothing does."""
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM hubsync.contacts").fetchone()
        want = scale.existing + len(scale.new_ids)
        if not total or total[0] != want:
            problems.append(f"{total[0] if total else 0} contacts, expected {want}")
        rows = conn.execute(
            "SELECT hubspot_id, id, properties FROM hubsync.contacts WHERE hubspot_id = ANY(%s)",
            (sorted(scale.expected),),
        ).fetchall()
        ids = {hid: rid for hid, rid, _ in rows}
        wrong = 0
        for hubspot_id, _rid, properties in rows:
            want_props = _expected_properties(scale, hubspot_id)
            got = {name: properties.get(name) or None for name in CHECKED}
            if got != want_props:
                wrong += 1
                if wrong <= 3:
                    problems.append(f"contact {hubspot_id}: {got} != {want_props}")
        if wrong:
            problems.append(f"{wrong} touched contacts differ from the oracle")
        if len(ids) != len(scale.expected):
            problems.append(f"{len(scale.expected) - len(ids)} touched contacts missing")
        actions: dict[str, int] = dict(
            conn.execute(
                "SELECT action, count(*) FROM hubsync.activity_log WHERE object_type = 'contact'"
                " AND action IN ('created_from_hubspot', 'updated') GROUP BY action"
            ).fetchall()
        )
        created = actions.get("created_from_hubspot", 0)
        if created != len(scale.new_ids):
            problems.append(f"{created} 'created_from_hubspot' activities, expected {len(scale.new_ids)}")
        if actions.get("updated", 0) < len(scale.updated_ids):
            problems.append(
                f"{actions.get('updated', 0)} 'updated' activities, expected {len(scale.updated_ids)}"
            )
        flagged = {
            frozenset((a, b))
            for a, b in conn.execute(
                "SELECT ca.hubspot_id, cb.hubspot_id FROM hubsync.potential_duplicates d"
                " JOIN hubsync.contacts ca ON ca.id = d.record_a"
                " JOIN hubsync.contacts cb ON cb.id = d.record_b"
                " WHERE d.object_type = 'contact'"
            ).fetchall()
        }
        missed = _planted_pairs(scale) - flagged
        if missed:
            problems.append(f"{len(missed)} planted duplicate pairs not flagged")
    if crm_messages < len(scale.expected):
        problems.append(f"{crm_messages} crm.contacts messages for {len(scale.expected)} touched contacts")
    return problems
