"""Seed data: deterministic, realistic, and its planted duplicates (and only those) are real."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from hubsync.hubspot_model.properties import INDUSTRY_VALUES
from hubsync.matching import normalize_email, root_domain
from hubsync.sandbox import seed_data
from hubsync.sandbox.app import create_state
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.seed import (
    STRONG_KINDS,
    DuplicateKind,
    SeedData,
    generate_seed,
)
from hubsync.sandbox.seeding import load_seed

EMAIL = re.compile(r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)


def emails_of(row: dict[str, str]) -> list[str]:
    extra = [e for e in row.get("hs_additional_emails", "").split(";") if e.strip()]
    return [row["email"], *extra]


def materialize(data: SeedData) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return list(data.contacts()), list(data.companies())


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first, again = generate_seed(1000, seed=5), generate_seed(1000, seed=5)
    assert materialize(first) == materialize(again)
    assert materialize(first) == materialize(first)  # iterating twice streams the same rows
    assert first.duplicates == again.duplicates
    assert list(first.associations()) == list(again.associations())
    other = generate_seed(1000, seed=6)
    contacts, companies = materialize(other)
    assert contacts != materialize(first)[0] and companies != materialize(first)[1]
    assert other.duplicates != first.duplicates


def test_rows_look_like_hubspot_records() -> None:
    data = generate_seed(3000, seed=11)
    contacts, companies = materialize(data)
    assert len(contacts) == 3000 and len(companies) == 300
    for row in contacts:
        assert row["firstname"].strip() and row["lastname"].strip()
        for email in emails_of(row):
            assert EMAIL.match(email.strip()), email
    industries = set(INDUSTRY_VALUES)
    for row in companies:
        assert row["name"] and "." in row["domain"]
        assert row.get("industry", "COMPUTER_SOFTWARE") in industries
        assert row.get("numberofemployees", "1").isdigit()
        assert row.get("phone", "+1").startswith("+")
    # some fields are left empty for autofill, some contacts carry extra addresses
    assert 0.1 < sum("industry" not in r for r in companies) / len(companies) < 0.4
    assert 0.2 < sum("numberofemployees" not in r for r in companies) / len(companies) < 0.5
    assert sum("hs_additional_emails" in r for r in contacts) > 100
    domains = [r["domain"].lower() for r in companies]
    assert any(d.startswith("www.") for d in domains)
    assert any(d.count(".") >= 2 and not d.startswith("www.") for d in domains)
    assert any(root_domain(d).endswith((".co.uk", ".com.au", ".com.br", ".co.jp")) for d in domains)
    assert len({root_domain(d).split(".", 1)[1] for d in domains}) >= 10  # varied suffixes


def test_contacts_are_associated_with_their_company() -> None:
    data = generate_seed(2000, seed=3)
    contacts, companies = materialize(data)
    associations = dict(data.associations())
    assert 0.85 < len(associations) / len(contacts) < 0.98  # some contacts have no company
    for i, row in enumerate(contacts):
        company = data.company_of(i)
        assert associations.get(i) == company
        if company is None:
            assert "company" not in row
        else:
            assert row["company"] == companies[company]["name"]
            if "@" in row["email"] and not row["email"].strip().lower().endswith(
                tuple(seed_data.FREEMAIL_DOMAINS)
            ):
                assert row["email"].strip().lower().endswith(root_domain(companies[company]["domain"]))


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_duplicate_share_is_within_tolerance(share: float) -> None:
    data = generate_seed(10_000, seed=1, duplicate_share=share)
    assert abs(len(data.contact_duplicates) / 10_000 - share) <= 0.01
    assert abs(len(data.company_duplicates) / 1000 - share) <= 0.01
    kinds = Counter(d.kind for d in data.duplicates)
    assert set(kinds) == set(DuplicateKind)
    assert all(d.of_index < d.index for d in data.duplicates)


def test_declared_duplicates_are_real_and_the_only_ones() -> None:
    data = generate_seed(10_000, seed=9, duplicate_share=0.1)
    contacts, companies = materialize(data)

    rows_by_email: defaultdict[str, set[int]] = defaultdict(set)
    for i, row in enumerate(contacts):
        for email in emails_of(row):
            rows_by_email[normalize_email(email)].add(i)
    email_pairs = set()
    for rows in rows_by_email.values():
        assert len(rows) <= 2
        if len(rows) == 2:
            low, high = sorted(rows)
            email_pairs.add((high, low))
    strong = {(d.index, d.of_index) for d in data.contact_duplicates if d.kind in STRONG_KINDS}
    assert email_pairs == strong

    def person(i: int) -> tuple[str, str, int | None]:
        row = contacts[i]
        return row["firstname"].strip().lower(), row["lastname"].strip().lower(), data.company_of(i)

    rows_by_person: defaultdict[tuple[str, str, int | None], list[int]] = defaultdict(list)
    for i in range(len(contacts)):
        if data.company_of(i) is not None:
            rows_by_person[person(i)].append(i)
    name_pairs = {(rows[1], rows[0]) for rows in rows_by_person.values() if len(rows) > 1}
    assert all(len(rows) <= 2 for rows in rows_by_person.values())
    declared = {(d.index, d.of_index) for d in data.contact_duplicates}
    assert name_pairs <= declared
    weak = {(d.index, d.of_index) for d in data.contact_duplicates if d.kind is DuplicateKind.NAME_COMPANY}
    assert weak <= name_pairs
    for d in data.contact_duplicates:
        if d.kind is DuplicateKind.NAME_COMPANY:
            assert normalize_email(contacts[d.index]["email"]) != normalize_email(
                contacts[d.of_index]["email"]
            )

    rows_by_root: defaultdict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(companies):
        rows_by_root[root_domain(row["domain"])].append(i)
    root_pairs = {(rows[1], rows[0]) for rows in rows_by_root.values() if len(rows) > 1}
    assert root_pairs == {(d.index, d.of_index) for d in data.company_duplicates}
    for d in data.company_duplicates:
        assert companies[d.index]["domain"] != companies[d.of_index]["domain"]
    assert len({r["name"].lower() for r in companies}) >= len(companies) - len(data.company_duplicates)


def test_duplicate_kinds_look_as_named() -> None:
    data = generate_seed(5000, seed=21, duplicate_share=0.2)
    contacts, companies = materialize(data)
    for d in data.contact_duplicates:
        dup, original = contacts[d.index], contacts[d.of_index]
        if d.kind is DuplicateKind.EMAIL_SUBADDRESS:
            # distinct to HubSpot (case-insensitively), equal once normalized
            assert "+" in dup["email"] and dup["email"].lower() != original["email"].lower()
            assert normalize_email(dup["email"]) == normalize_email(original["email"])
        elif d.kind is DuplicateKind.ADDITIONAL_EMAIL:
            assert normalize_email(dup["hs_additional_emails"]) == normalize_email(original["email"])
    for d in data.company_duplicates:
        dup, original = companies[d.index]["domain"], companies[d.of_index]["domain"]
        if d.kind is DuplicateKind.DOMAIN_WWW:
            assert "www." in dup + original
        elif d.kind is DuplicateKind.DOMAIN_CASE:
            assert dup.lower() == original.lower()


def test_name_lists_are_large_varied_and_fold_uniquely() -> None:
    for names in (seed_data.FIRST_NAMES, seed_data.LAST_NAMES):
        assert len(names) >= 300
        folded = [seed_data.fold(n) for n in names]
        assert len(set(folded)) == len(folded)
        assert all(f.isalpha() and f.isascii() for f in folded)
    assert any(not n.isascii() for n in seed_data.FIRST_NAMES)  # accents survive in the names
    assert seed_data.fold("Zoë O'Brien") == "zoeobrien"
    assert root_domain("WWW.Acme.co.uk.") == "acme.co.uk" and root_domain("eu.acme.com") == "acme.com"


def test_small_and_invalid_sizes() -> None:
    empty = generate_seed(0)
    assert materialize(empty) == ([], []) and empty.duplicates == ()
    single = generate_seed(1, duplicate_share=0.5)
    assert len(list(single.contacts())) == 1 and single.n_companies == 1
    no_companies = generate_seed(50, 0)
    assert all("company" not in r for r in no_companies.contacts())
    with pytest.raises(ValueError, match="duplicate_share"):
        generate_seed(10, duplicate_share=0.9)
    with pytest.raises(ValueError, match=">= 0"):
        generate_seed(-1)


def test_a_thousand_rows() -> None:
    """How fast seeding is, is for ``python -m bench.sandbox_scale`` (a million contacts)."""
    data = generate_seed(1000, seed=2)
    assert sum(1 for _ in data.contacts()) == 1000
    assert sum(1 for _ in data.companies()) == 100


def test_seed_loads_into_the_store_as_hubspot_would_accept_it() -> None:
    """No planted duplicate breaks HubSpot's rules (unique email, valid industry options)."""
    state = create_state(SandboxConfig())
    data = generate_seed(3000, seed=5, duplicate_share=0.2)
    report = load_seed(state.store, data)
    assert (report.contacts, report.companies) == (3000, 300)
    assert report.associations == sum(1 for _ in data.associations())
    industry = state.registry.get("company", "industry")
    allowed = {o.value for o in industry.options}
    for row in data.companies():
        assert row.get("industry", "ACCOUNTING") in allowed
