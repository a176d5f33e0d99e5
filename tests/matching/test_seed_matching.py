"""The keys against the sandbox seed: every planted duplicate is found, nothing else is.

The seed guarantees rows are unique except for its declared duplicates, so any other pair of rows
sharing a key is a false positive of the keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import combinations

import pytest

from hubsync.matching import company_name_key, email_keys, person_key, root_domain
from hubsync.sandbox.seed import Duplicate, DuplicateKind, SeedData, generate_seed
from hubsync.sandbox.seed_data import FREEMAIL_DOMAINS

Pair = tuple[int, int]
EMAIL_KINDS = {DuplicateKind.EMAIL_SUBADDRESS, DuplicateKind.ADDITIONAL_EMAIL}
FREEMAIL = frozenset(FREEMAIL_DOMAINS)
DOMAIN_KINDS = {DuplicateKind.DOMAIN_WWW, DuplicateKind.DOMAIN_SUBDOMAIN, DuplicateKind.DOMAIN_CASE}


@pytest.fixture(scope="module")
def seed() -> SeedData:
    return generate_seed(3000, seed=7, duplicate_share=0.2)


def _pair(d: Duplicate) -> Pair:
    return (min(d.index, d.of_index), max(d.index, d.of_index))


def _pairs_sharing_a_key(keys: Iterable[Iterable[object]]) -> set[Pair]:
    """Every pair of row indexes whose key sets intersect."""
    groups: defaultdict[object, list[int]] = defaultdict(list)
    for i, row_keys in enumerate(keys):
        for key in set(row_keys):
            groups[key].append(i)
    return {pair for rows in groups.values() for pair in combinations(rows, 2)}


def _keys(
    rows: Iterable[dict[str, str]], key: Callable[[int, dict[str, str]], Iterable[object]]
) -> list[Iterable[object]]:
    return [key(i, row) for i, row in enumerate(rows)]


def test_the_seed_plants_every_kind(seed: SeedData) -> None:
    kinds = {d.kind for d in seed.duplicates}
    assert kinds == set(DuplicateKind)


def test_email_keys_find_exactly_the_planted_email_duplicates(seed: SeedData) -> None:
    contacts = list(seed.contacts())
    keys = [email_keys(c.get("email"), c.get("hs_additional_emails")) for c in contacts]
    assert all(keys), "every seed contact has a usable e-mail"
    for d in seed.contact_duplicates:
        if d.kind in EMAIL_KINDS:
            assert keys[d.index] & keys[d.of_index], (d, contacts[d.index], contacts[d.of_index])
    planted = {_pair(d) for d in seed.contact_duplicates if d.kind in EMAIL_KINDS}
    flagged = _pairs_sharing_a_key(keys)
    assert flagged - planted == set(), "false positives"
    assert flagged == planted


def test_root_domain_finds_exactly_the_planted_company_duplicates(seed: SeedData) -> None:
    companies = list(seed.companies())
    roots = [root_domain(c.get("domain")) for c in companies]
    assert None not in roots
    for d in seed.company_duplicates:
        assert d.kind in DOMAIN_KINDS
        assert roots[d.index] == roots[d.of_index], (d, companies[d.index], companies[d.of_index])
    flagged = _pairs_sharing_a_key([{r} for r in roots])
    assert flagged == {_pair(d) for d in seed.company_duplicates}


def test_company_name_key_flags_no_other_companies(seed: SeedData) -> None:
    """Names with and without a legal form, in another case: the planted duplicates, no others."""
    keys = _keys(seed.companies(), lambda _i, c: {company_name_key(c.get("name"))} - {None})
    assert all(keys)
    assert _pairs_sharing_a_key(keys) == {_pair(d) for d in seed.company_duplicates}


def test_name_plus_company_finds_name_company_duplicates(seed: SeedData) -> None:
    """The weaker signal: same person key at the same company root domain (or company name)."""
    contacts = list(seed.contacts())
    company_roots = [root_domain(c.get("domain")) for c in seed.companies()]

    def by_company_domain(i: int, c: dict[str, str]) -> set[object]:
        key, company = person_key(c.get("firstname"), c.get("lastname")), seed.company_of(i)
        return {(key, company_roots[company])} if key and company is not None else set()

    def by_email_domain(_i: int, c: dict[str, str]) -> set[object]:
        # a freemail host names no company: "Ming Park" at gmail.com is many people (at 20k
        # contacts the seed has such same-name pairs), so the weak signal must skip it
        key, domain = person_key(c.get("firstname"), c.get("lastname")), root_domain(c.get("email"))
        return {(key, domain)} if key and domain and domain not in FREEMAIL else set()

    def by_company_name(_i: int, c: dict[str, str]) -> set[object]:
        key, company = person_key(c.get("firstname"), c.get("lastname")), company_name_key(c.get("company"))
        return {(key, company)} if key and company else set()

    planted = {_pair(d): d.kind for d in seed.contact_duplicates}
    name_company = {p for p, kind in planted.items() if kind is DuplicateKind.NAME_COMPANY}
    for d in seed.contact_duplicates:
        if d.kind is DuplicateKind.NAME_COMPANY:
            new, old = contacts[d.index], contacts[d.of_index]
            assert person_key(new.get("firstname"), new.get("lastname")) == person_key(
                old.get("firstname"), old.get("lastname")
            )
            assert root_domain(new["email"]) == root_domain(old["email"])
            assert company_name_key(new.get("company")) == company_name_key(old.get("company"))
    for signal in (by_company_domain, by_email_domain, by_company_name):
        flagged = _pairs_sharing_a_key(_keys(contacts, signal))
        assert name_company <= flagged, signal.__name__
        # planted e-mail duplicates are the same person at the same company too; nothing else is
        assert flagged - set(planted) == set(), signal.__name__


def test_a_name_alone_is_no_duplicate_signal(seed: SeedData) -> None:
    """Why the weak signal needs the company: names repeat across companies in the seed."""
    keys = _keys(seed.contacts(), lambda _i, c: {person_key(c.get("firstname"), c.get("lastname"))} - {None})
    planted = {_pair(d) for d in seed.contact_duplicates}
    assert _pairs_sharing_a_key(keys) - planted
