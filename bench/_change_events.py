"""Synthetic HubSpot change events for the ingest benchmarks, and a fast producer for them.

:func:`contact_snapshot_events` builds realistic contact records (CRM v3 JSON with
``propertiesWithHistory``) and turns them into ``SNAPSHOT`` values with the connectors' own
:func:`~hubsync.connectors.hubspot.sources.change_events.from_record`, as a backfill would publish
them. A share of them (``duplicate_ratio``) reuse the address of an earlier contact, as the
primary email (case changed) or in ``hs_additional_emails``, so duplicate detection has work.
The same ``seed`` gives the same events.

:func:`produce_events` creates the topic and produces the events with the project's Avro
single-object codec, batched and lz4-compressed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.connectors.hubspot.sources.change_events import from_record
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.topics import DAY_MS, TopicSpec

SCHEMA_STEM = "hubspot_change_event"
#: the clock of the generated events: records changed in the year before it, received after it
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_EPOCH_MS = int(EPOCH.timestamp() * 1000)

_FIRST = (  # noqa: SIM905 - a word list reads better as text
    "Ada Alan Grace Linus Margaret Dennis Barbara Ken Frances Edsger Radia John Hedy Tim Katherine "
    "Donald Shafi Leslie Sophie Guido Anita Bjarne Jean Niklaus Adele Brian Karen Vint Lynn Marvin"
).split()
_LAST = (  # noqa: SIM905 - a word list reads better as text
    "Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Allen Dijkstra Perlman "
    "McCarthy Lamarr Berners-Lee Johnson Knuth Goldwasser Lamport Wilson Rossum Borg Stroustrup "
    "Sammet Wirth Goldberg Kernighan Jones Cerf Conway Minsky"
).split()
_COMPANIES = (
    ("Acme", "acme.com"),
    ("Globex", "globex.io"),
    ("Initech", "initech.com"),
    ("Umbrella", "umbrella.co.uk"),
    ("Hooli", "hooli.com"),
    ("Stark Industries", "stark.com"),
    ("Wayne Enterprises", "wayne-ent.com"),
    ("Soylent", "soylent.net"),
    ("Tyrell", "tyrell.ai"),
    ("Cyberdyne", "cyberdyne.systems"),
    ("Vandelay Industries", "vandelay.com"),
    ("Wonka", "wonka.example"),
)
_TITLES = ("CEO", "CTO", "VP Sales", "Account Executive", "Engineer", "Head of Marketing", "Analyst", None)
_CITIES = ("Berlin", "Boston", "London", "Paris", "Austin", "Toronto", "Sydney", "Madrid", None)
_FREE_MAIL = ("gmail.com", "outlook.com", "proton.me")


def _iso(ms: int) -> str:
    """HubSpot's timestamp format, ``2025-06-01T12:00:00.123Z``."""
    return (EPOCH + timedelta(milliseconds=ms - _EPOCH_MS)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_SYLLABLES = (
    "an bel cor dun el fra gor hal is jon ka lin mor nor ost pel quin ros sul tor ul ven wil xan yor".split()  # noqa: SIM905
)


def _company(rng: random.Random) -> tuple[str, str]:
    """One of the named companies or of 5,000 generated ones (a CRM has many companies)."""
    if rng.random() < 0.2:
        return rng.choice(_COMPANIES)
    n = rng.randrange(5000)
    word = "".join(_SYLLABLES[(n // 25**i) % 25] for i in range(3)).capitalize()
    return f"{word} Corp", f"{word.lower()}.com"


def _record(rng: random.Random, hubspot_id: int) -> dict[str, Any]:
    # 30 first names x 30 x 25 last names: a same-name pair at one company is rare, as in real CRMs
    first, last = rng.choice(_FIRST), rng.choice(_LAST) + rng.choice(_SYLLABLES)
    company, domain = _company(rng)
    email = f"{first}.{last}{hubspot_id}@{domain}".lower()
    additional: list[str] = []
    if rng.random() < 0.1:
        additional.append(f"{first}{hubspot_id}@{rng.choice(_FREE_MAIL)}".lower())
    created = _EPOCH_MS - rng.randrange(30 * DAY_MS, 365 * DAY_MS)
    updated = created + rng.randrange(0, 29 * DAY_MS)
    props: dict[str, str | None] = {
        "email": email,
        "firstname": first,
        "lastname": last,
        "company": company,
        "jobtitle": rng.choice(_TITLES),
        "phone": f"+1 555 {rng.randrange(1000000):07d}" if rng.random() < 0.6 else None,
        "city": rng.choice(_CITIES),
        "lastmodifieddate": _iso(updated),
    }
    if additional:
        props["hs_additional_emails"] = ";".join(additional)
    history = {
        name: [{"value": value, "timestamp": _iso(rng.randrange(created, updated + 1))}]
        for name, value in props.items()
        if name != "lastmodifieddate" and value is not None
    }
    return {
        "id": str(hubspot_id),
        "properties": props,
        "propertiesWithHistory": history,
        "createdAt": _iso(created),
        "updatedAt": _iso(updated),
        "archived": False,
    }


def _plant_duplicate(rng: random.Random, record: dict[str, Any], earlier: list[str]) -> None:
    """Reuse an earlier contact's address: as the primary email (another case) or an additional one."""
    other = rng.choice(earlier)
    props = record["properties"]
    if rng.random() < 0.7:
        local, _, domain = other.partition("@")
        props["email"] = f"{local.capitalize()}@{domain.upper()}" if rng.random() < 0.5 else other
        record["propertiesWithHistory"]["email"][0]["value"] = props["email"]
    else:
        extra = [e for e in (props.get("hs_additional_emails") or "").split(";") if e]
        props["hs_additional_emails"] = ";".join([*extra, other])


def contact_snapshot_events(
    n: int, *, seed: int, duplicate_ratio: float = 0.02, start_id: int = 1
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``n`` contact ``SNAPSHOT`` events from a backfill: ``(key, HubSpotChangeEvent value)``.

    HubSpot ids run from ``start_id``; each id comes once. About ``duplicate_ratio`` of the
    contacts share an address with an earlier one (a planted potential duplicate).
    """
    rng = random.Random(seed)
    earlier: list[str] = []  # a bounded sample of earlier primary emails to copy from
    for i in range(n):
        hubspot_id = start_id + i
        record = _record(rng, hubspot_id)
        if earlier and rng.random() < duplicate_ratio:
            _plant_duplicate(rng, record, earlier)
        email = record["properties"]["email"]
        if len(earlier) < 10_000:
            earlier.append(email.lower())
        elif rng.random() < 0.01:
            earlier[rng.randrange(len(earlier))] = email.lower()
        value = from_record("contact", record, source="BACKFILL", received_at_ms=_EPOCH_MS + i)
        yield str(hubspot_id).encode(), value


def topic_spec(topic: str, partitions: int) -> TopicSpec:
    """A ``hubspot.contacts.changes``-like topic (delete policy, a week's retention)."""
    return TopicSpec(
        role="hubspot_contacts",
        name=topic,
        schema_stem=SCHEMA_STEM,
        key="HubSpot contact id",
        compacted=False,
        partitions=partitions,
        replication_factor=1,
        config={"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
    )


def produce_events(
    bootstrap: str,
    topic: str,
    events: Iterable[tuple[bytes, Mapping[str, Any]]],
    partitions: int,
    *,
    repository: SchemaRepository | None = None,
) -> int:
    """Create ``topic`` (if missing) and produce ``events`` Avro single-object encoded; return
    the count once the broker acknowledged all of them (raises on any delivery error)."""
    ensure_topics(admin_client(bootstrap), [topic_spec(topic, partitions)])
    codec = SingleObjectCodec(repository or SchemaRepository())
    schema = codec.repository.current(SCHEMA_STEM)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1024 * 1024,
            "batch.num.messages": 100_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
        }
    )
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    count = 0
    for key, value in events:
        data = codec.encode(topic, schema, value)
        while True:
            try:
                producer.produce(topic, key=key, value=data, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    deadline = time.monotonic() + 120
    while producer.flush(1.0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"events to {topic} not acknowledged within 120 s")
    if errors:
        raise RuntimeError(f"{len(errors)} event(s) to {topic} failed: {errors[0].str()}")
    return count
