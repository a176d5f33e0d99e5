"""Load generated seed data (:mod:`hubsync.sandbox.seed`) into a store, without webhook events."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hubsync.sandbox.associations import PRIMARY, UNLABELED
from hubsync.sandbox.events import Writer
from hubsync.sandbox.seed import SeedData
from hubsync.sandbox.store import CrmStore

#: seeded records look like an import done in HubSpot
SEED_WRITER = Writer("IMPORT", "sandbox-seed")


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
    company_ids = store.load("company", data.companies(), SEED_WRITER)
    contact_ids = store.load("contact", data.contacts(), SEED_WRITER)
    links = 0
    for contact_index, company_index in data.associations():
        # bulk path: set the pair's association types directly (store.associate would emit events)
        store.links.set(contact_ids[contact_index], company_ids[company_index], UNLABELED | PRIMARY)
        links += 1
    return SeedReport(len(contact_ids), len(company_ids), links, time.perf_counter() - started)
