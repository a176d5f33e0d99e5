"""Load generated seed data (:mod:`hubsync.sandbox.seed`) into a store, without webhook events."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, HubSpotObjectName
from hubsync.sandbox.associations import PRIMARY, UNLABELED
from hubsync.sandbox.events import Writer
from hubsync.sandbox.seed import SeedData
from hubsync.sandbox.store import CrmStore

#: seeded records look like an import done in HubSpot
SEED_WRITER = Writer("IMPORT", "sandbox-seed")
#: seeded records were created over the year before the load, and last modified since then, as a
#: real portal's are (an incremental client splits its search windows by these times)
SEED_HISTORY_MS = 365 * 24 * 3600 * 1000
#: nothing seeded is modified in the last minute before the load, so it all lies behind any poll's
#: settle time
SEED_QUIET_MS = 60_000


@dataclass(frozen=True, slots=True)
class SeedReport:
    contacts: int
    companies: int
    associations: int
    seconds: float


def load_seed(store: CrmStore, data: SeedData) -> SeedReport:
    """Store every seeded company, contact and primary association. Seeding is set-up, not a
    change: no webhook events are emitted, as a portal's existing data fires none either."""
    started = time.perf_counter()
    now = store.clock()
    company_ids = store.load(
        "company", spread_times(data.companies(), "company", now, data.seed), SEED_WRITER
    )
    contact_ids = store.load("contact", spread_times(data.contacts(), "contact", now, data.seed), SEED_WRITER)
    links = 0
    for contact_index, company_index in data.associations():
        # bulk path: set the pair's association types directly (store.associate would emit events)
        store.links.set(contact_ids[contact_index], company_ids[company_index], UNLABELED | PRIMARY)
        links += 1
    return SeedReport(len(contact_ids), len(company_ids), links, time.perf_counter() - started)


def spread_times(
    rows: Iterable[Mapping[str, str | None]], object_type: HubSpotObjectName, now_ms: int, seed: int
) -> Iterator[dict[str, str | None]]:
    """``rows`` with a ``createdate`` and a modification time each, drawn (deterministically per
    ``seed``) from the year before ``now_ms`` less :data:`SEED_QUIET_MS`; times a row names stay."""
    rng = random.Random(f"{seed}:{object_type}")  # noqa: S311 - test data, not cryptography
    modified = MODIFIED_PROPERTY[object_type]
    latest = now_ms - SEED_QUIET_MS
    for row in rows:
        created = latest - rng.randrange(SEED_HISTORY_MS)
        updated = created + rng.randrange(latest - created + 1)
        yield {"createdate": str(created), modified: str(updated), **row}
