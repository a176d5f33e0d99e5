"""Deterministic seed data for the sandbox: companies, contacts, their associations, and planted
duplicates that the pipeline's duplicate detection must find.

``generate_seed(...)`` plans everything that must be known up front (which company each contact
works for, which rows duplicate which) in compact arrays, and returns a :class:`SeedData` whose
``companies()`` / ``contacts()`` / ``associations()`` *stream* property dicts: 1,000,000 contacts
never exist as dicts at once. Iterating twice yields the same rows; another ``seed`` other rows.

Guarantees the tests (and later the detection oracle) rely on:

* Rows are unique except for the declared duplicates: no two rows share a normalized e-mail
  (primary or in ``hs_additional_emails``), no two companies share a root domain or a name, and
  no two contacts of one company share a name, unless :attr:`SeedData.duplicates` says so.
  Contacts of a root domain draw distinct name pairs (an affine walk over all pairs) and the
  e-mail patterns are injective; personal addresses carry the row index.
* Each declared duplicate names the earlier row it duplicates and how: contacts by e-mail case,
  e-mail whitespace, ``hs_additional_emails``, or (weaker) the same name at the same company;
  companies by the same root domain written with or without ``www.``, under a subdomain, or in
  another case.

Empty properties are left out of the dicts (a HubSpot record has them unset), so autofill finds
gaps: about a quarter of companies lack an industry, a third lack an employee count.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.hubspot_model.properties import INDUSTRY_VALUES
from hubsync.sandbox import seed_data as d


class DuplicateKind(StrEnum):
    """How a planted duplicate differs from its original. HubSpot refuses two contacts whose
    emails differ only in case, so email duplicates use sub-addresses (``jane+crm@acme.com``),
    which HubSpot treats as distinct and hubsync's email normalization folds together."""

    EMAIL_SUBADDRESS = "email_subaddress"
    ADDITIONAL_EMAIL = "additional_email"
    NAME_COMPANY = "name_company"
    DOMAIN_WWW = "domain_www"
    DOMAIN_SUBDOMAIN = "domain_subdomain"
    DOMAIN_CASE = "domain_case"


#: the duplicates detected by normalized e-mail / root domain (the rest are name + company)
STRONG_KINDS = frozenset(DuplicateKind) - {DuplicateKind.NAME_COMPANY}


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Row ``index`` of ``object_type`` duplicates the earlier row ``of_index``."""

    object_type: HubSpotObjectType
    index: int
    of_index: int
    kind: DuplicateKind


class _Company(NamedTuple):
    name: str
    root: str
    domain: str
    country: int
    #: the original company of this root domain (its own index unless a duplicate)
    group: int
    #: e-mail pattern of the root domain: 0 first.last, 1 first_last, 2 last.first
    pattern: int


_FIRST = tuple(d.fold(n) for n in d.FIRST_NAMES)
_LAST = tuple(d.fold(n) for n in d.LAST_NAMES)
_PAIRS = len(_FIRST) * len(_LAST)
#: steps of the affine walk over name pairs; coprime with their number, so a walk never repeats
_STEPS = tuple(p for p in (7919, 104_729, 15_485_863, 2_750_159, 611_953, 1_299_709) if _PAIRS % p)
_COUNTRY_CUMULATIVE = tuple(sum(c.weight for c in d.COUNTRIES[: i + 1]) for i in range(len(d.COUNTRIES)))


_TAGS = ("crm", "work", "sales", "news", "hubspot", "old")


def _subaddress(email: str, rng: random.Random, i: int) -> str:
    """``local+tagN@domain``, sometimes with the case varied: unique to HubSpot, equal once normalized."""
    local, _, domain = email.rpartition("@")
    tagged = f"{local}+{_TAGS[_below(rng, len(_TAGS))]}{i}@{domain}"
    return _vary_case(tagged, rng) if rng.random() < 0.3 else tagged


def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _plan_duplicates(rng: random.Random, n: int, k: int) -> dict[int, int]:
    """``k`` distinct rows in ``[1, n)``, each mapped to a distinct earlier original that is no
    duplicate itself (a row finding no free original after a few draws is left out)."""
    chosen: set[int] = set()
    for top in range(n - 1 - k, n - 1):  # Floyd's sampling of k values from [0, n - 1)
        t = _below(rng, top + 1)
        chosen.add(top if t in chosen else t)
    dup_rows = {c + 1 for c in chosen}
    plan: dict[int, int] = {}
    used: set[int] = set()
    for i in sorted(dup_rows):
        for _ in range(32):
            j = _below(rng, i)
            if j not in used and j not in dup_rows:
                plan[i] = j
                used.add(j)
                break
    return plan


def _vary_case(text: str, rng: random.Random) -> str:
    """``text`` in another case, never equal to it (the seed's strings hold letters)."""
    r = rng.random()
    varied = text.upper() if r < 0.45 else text.title() if r < 0.9 else text.lower()
    return varied if varied != text else text.upper() if text != text.upper() else text.lower()


def _phone(rng: random.Random, country: d.Country) -> str:
    total = sum(country.phone_groups) - 1  # the leading digit is never 0 or 1
    digits = f"{2 + int(rng.random() * 8)}{int(rng.random() * 10**total):0{total}d}"
    parts, at = [], 0
    for size in country.phone_groups:
        parts.append(digits[at : at + size])
        at += size
    return f"{country.calling_code} {' '.join(parts)}"


def _pick_country(rng: random.Random) -> int:
    r = _below(rng, _COUNTRY_CUMULATIVE[-1])
    for i, bound in enumerate(_COUNTRY_CUMULATIVE):
        if r < bound:
            return i
    raise AssertionError("unreachable")  # pragma: no cover


def _local_part(pattern: int, first: str, last: str) -> str:
    if pattern == 0:
        return f"{first}.{last}"
    if pattern == 1:
        return f"{first}_{last}"
    return f"{last}.{first}"


def generate_seed(
    n_contacts: int,
    n_companies: int | None = None,
    *,
    seed: int = 42,
    duplicate_share: float = 0.05,
) -> SeedData:
    """Plan ``n_contacts`` contacts and ``n_companies`` companies (default: one per ten contacts),
    ``duplicate_share`` of each being planted duplicates of earlier rows."""
    if n_contacts < 0 or (n_companies is not None and n_companies < 0):
        raise ValueError("row counts must be >= 0")
    if not 0.0 <= duplicate_share <= 0.5:
        raise ValueError("duplicate_share must be within [0, 0.5]")
    if n_companies is None:
        n_companies = max(1, n_contacts // 10) if n_contacts else 0
    return SeedData(n_contacts, n_companies, seed, duplicate_share)


class SeedData:
    """Planned seed rows; the iterators build the property dicts on the fly."""

    def __init__(self, n_contacts: int, n_companies: int, seed: int, duplicate_share: float) -> None:
        self.n_contacts = n_contacts
        self.n_companies = n_companies
        self.seed = seed
        self.duplicate_share = duplicate_share
        self._companies: list[_Company] = []
        self.company_duplicates: tuple[Duplicate, ...] = self._plan_companies()
        self._company_of = array("i")
        self._contact_dups: dict[int, tuple[int, DuplicateKind]] = {}
        self.contact_duplicates: tuple[Duplicate, ...] = self._plan_contacts()

    def _rng(self, stream: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + stream)  # noqa: S311 - test data

    @property
    def duplicates(self) -> tuple[Duplicate, ...]:
        return self.company_duplicates + self.contact_duplicates

    def company_of(self, contact_index: int) -> int | None:
        """The index of the contact's (primary) company, None when it has none."""
        c = self._company_of[contact_index]
        return c if c >= 0 else None

    def rows(self, object_type: HubSpotObjectType) -> Iterator[dict[str, str]]:
        return self.contacts() if object_type == "contacts" else self.companies()

    # ---- planning -------------------------------------------------------------------------

    def _plan_companies(self) -> tuple[Duplicate, ...]:
        rng, n = self._rng(1), self.n_companies
        plan = _plan_duplicates(rng, n, round(n * self.duplicate_share))
        a_words, b_words, c_words = d.COMPANY_WORDS_A, d.COMPANY_WORDS_B, d.COMPANY_WORDS_C
        space = len(a_words) * len(b_words) * len(c_words)
        start, step = _below(rng, space), next(s for s in _STEPS if space % s)
        used_roots: set[str] = set()
        duplicates: list[Duplicate] = []
        made = 0
        for i in range(n):
            j = plan.get(i)
            if j is not None:
                company, kind = self._duplicate_company(rng, self._companies[j])
                self._companies.append(company)
                duplicates.append(Duplicate("companies", i, j, kind))
                continue
            t, wrap = (start + made * step) % space, made // space
            made += 1
            ia, rest = divmod(t, len(b_words) * len(c_words))
            ib, ic = divmod(rest, len(c_words))
            words = (a_words[ia], b_words[ib], c_words[ic])
            tag = str(wrap + 1) if wrap else ""
            country_i = _pick_country(rng)
            country = d.COUNTRIES[country_i]
            suffix = country.suffixes[_below(rng, len(country.suffixes))]
            root = f"{''.join(d.fold(w) for w in words)}{tag}.{suffix}"
            if root in used_roots:  # two word triples glued to the same letters: hyphenate
                root = f"{'-'.join(d.fold(w) for w in words)}{tag}.{suffix}"
            used_roots.add(root)
            name = " ".join(words) + (f" {tag}" if tag else "")
            legal = d.LEGAL_SUFFIXES.get(country.code, ())
            if legal and rng.random() < 0.3:
                name = f"{name} {legal[_below(rng, len(legal))]}"
            r = rng.random()
            sub = d.SUBDOMAINS[_below(rng, len(d.SUBDOMAINS))]
            domain = root if r < 0.65 else f"www.{root}" if r < 0.85 else f"{sub}.{root}"
            r = rng.random()
            pattern = 0 if r < 0.7 else 1 if r < 0.85 else 2
            self._companies.append(_Company(name, root, domain, country_i, i, pattern))
        return tuple(duplicates)

    @staticmethod
    def _duplicate_company(rng: random.Random, original: _Company) -> tuple[_Company, DuplicateKind]:
        r = rng.random()
        root, domain = original.root, original.domain
        if r < 0.4:
            kind = DuplicateKind.DOMAIN_WWW
            domain = root if domain.startswith("www.") else f"www.{root}"
        elif r < 0.7:
            kind = DuplicateKind.DOMAIN_SUBDOMAIN
            subs = [s for s in d.SUBDOMAINS if f"{s}.{root}" != domain]
            domain = f"{subs[_below(rng, len(subs))]}.{root}"
        else:
            kind = DuplicateKind.DOMAIN_CASE
            domain = _vary_case(domain, rng)
        r = rng.random()
        name = original.name if r < 0.5 else _vary_case(original.name, rng)
        return original._replace(name=name, domain=domain), kind

    def _plan_contacts(self) -> tuple[Duplicate, ...]:
        rng, n, n_co = self._rng(2), self.n_contacts, self.n_companies
        popular = [_below(rng, n_co) for _ in range(max(1, n_co // 50))] if n_co else []
        company_of, rand = self._company_of, rng.random
        for _ in range(n):
            r = rand()
            if not n_co or r < 0.07:
                company_of.append(-1)
            elif r < 0.32:
                company_of.append(popular[int(rand() * len(popular))])
            else:
                company_of.append(int(rand() * n_co))
        plan = _plan_duplicates(rng, n, round(n * self.duplicate_share))
        duplicates: list[Duplicate] = []
        for i, j in plan.items():
            company_of[i] = company_of[j]
            r = rand()
            if r < 0.45:
                kind = DuplicateKind.EMAIL_SUBADDRESS
            elif r < 0.75 or company_of[j] < 0:
                kind = DuplicateKind.ADDITIONAL_EMAIL
            else:
                kind = DuplicateKind.NAME_COMPANY
            self._contact_dups[i] = (j, kind)
            duplicates.append(Duplicate("contacts", i, j, kind))
        return tuple(duplicates)

    # ---- streaming ------------------------------------------------------------------------

    def companies(self) -> Iterator[dict[str, str]]:
        """Company property dicts, in index order."""
        rng = self._rng(3)
        rand = rng.random
        industries, ranges = INDUSTRY_VALUES, d.EMPLOYEE_RANGES
        range_total = sum(w for _, _, w in ranges)
        for company in self._companies:
            country = d.COUNTRIES[company.country]
            props = {"name": company.name, "domain": company.domain}
            if rand() < 0.75:
                props["industry"] = industries[int(rand() * len(industries))]
            if rand() < 0.8:
                props["city"] = country.cities[int(rand() * len(country.cities))]
            if rand() < 0.7:
                props["phone"] = _phone(rng, country)
            if rand() < 0.65:
                pick = rand() * range_total
                for low, high, weight in ranges:
                    if pick < weight:
                        props["numberofemployees"] = str(low + int(rand() * (high - low + 1)))
                        break
                    pick -= weight
            yield props

    def associations(self) -> Iterator[tuple[int, int]]:
        """``(contact index, company index)`` of every contact's primary company."""
        for i, c in enumerate(self._company_of):
            if c >= 0:
                yield i, c

    def contacts(self) -> Iterator[dict[str, str]]:
        """Contact property dicts, in index order."""
        rng = self._rng(4)
        rand = rng.random
        first_names, last_names, n_last = d.FIRST_NAMES, d.LAST_NAMES, len(d.LAST_NAMES)
        titles, freemail, countries = d.JOB_TITLES, d.FREEMAIL_DOMAINS, d.COUNTRIES
        companies, company_of, dups = self._companies, self._company_of, self._contact_dups
        originals = {j for j, _ in dups.values()}
        kept: dict[int, tuple[int, int, str]] = {}
        slots = array("i", bytes(4 * max(1, self.n_companies)))
        salt = self.seed * 2_654_435_761
        for i in range(self.n_contacts):
            c = company_of[i]
            company = companies[c] if c >= 0 else None
            dup = dups.get(i)
            if dup is not None:
                props = self._duplicate_contact(rng, i, dup[1], kept.pop(dup[0]), company)
            else:
                if company is not None:
                    g = company.group
                    s = slots[g]
                    slots[g] = s + 1
                    pair = (g * 2_654_435_761 + salt + s * _STEPS[g % len(_STEPS)]) % _PAIRS
                    fi, li = divmod(pair, n_last)
                    wrap = s // _PAIRS
                    local = _local_part(company.pattern, _FIRST[fi], _LAST[li])
                    email = f"{local}{wrap or ''}@{company.root}"
                else:
                    fi, li = int(rand() * len(_FIRST)), int(rand() * n_last)
                    email = f"{_FIRST[fi]}.{_LAST[li]}.{i}@{freemail[int(rand() * len(freemail))]}"
                if i in originals:
                    kept[i] = (fi, li, email)
                props = {"firstname": first_names[fi], "lastname": last_names[li], "email": email}
                if rand() < 0.08:
                    host = freemail[int(rand() * len(freemail))]
                    props["hs_additional_emails"] = f"{_FIRST[fi]}{_LAST[li]}{i}@{host}"
            if rand() < 0.85:
                props["jobtitle"] = titles[int(rand() * len(titles))]
            country = countries[company.country if company else int(rand() * len(countries))]
            if rand() < 0.7:
                props["phone"] = _phone(rng, country)
            if rand() < 0.75:
                props["city"] = country.cities[int(rand() * len(country.cities))]
            if company is not None:
                props["company"] = company.name
            yield props

    @staticmethod
    def _duplicate_contact(
        rng: random.Random,
        i: int,
        kind: DuplicateKind,
        original: tuple[int, int, str],
        company: _Company | None,
    ) -> dict[str, str]:
        fi, li, email = original
        first, last = d.FIRST_NAMES[fi], d.LAST_NAMES[li]
        props: dict[str, str] = {}
        if kind is DuplicateKind.EMAIL_SUBADDRESS:
            email = _subaddress(email, rng, i)
        elif kind is DuplicateKind.ADDITIONAL_EMAIL:
            host = d.FREEMAIL_DOMAINS[_below(rng, len(d.FREEMAIL_DOMAINS))]
            additional = _subaddress(email, rng, i)
            email = f"{_FIRST[fi]}.{_LAST[li]}.{i}@{host}"
            props["hs_additional_emails"] = additional
        else:  # NAME_COMPANY: same person, same company, another address
            assert company is not None
            sub = d.SUBDOMAINS[_below(rng, len(d.SUBDOMAINS))]
            email = f"{_local_part(company.pattern, _FIRST[fi], _LAST[li])}@{sub}.{company.root}"
            r = rng.random()
            first, last = (_vary_case(first, rng), last) if r < 0.4 else (f"{first} ", _vary_case(last, rng))
        return {"firstname": first, "lastname": last, "email": email, **props}
