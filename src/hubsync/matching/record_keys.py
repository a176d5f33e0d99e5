"""Duplicate-detection keys of HubSpot records, and the advisory-lock ids derived from them.

Pure functions over HubSpot property maps; the ingest agent stores what :func:`contact_keys` and
:func:`account_keys` return in the key columns (``contact_emails``, ``name_normalized``,
``company_name_key``, ``company_domain_root``, ``domain_root``), and
:mod:`hubsync.matching.duplicates` locks the :func:`dedup_keys` of a batch before it looks for
other records sharing them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

from hubsync.matching.domains import root_domain
from hubsync.matching.freemail import is_freemail
from hubsync.matching.keys import company_name_key, email_keys, normalize_email, person_key
from hubsync.records.kinds import ObjectKind
from hubsync.storage.locks import advisory_lock_id

__all__ = [
    "ACCOUNT_KEY_PROPERTIES",
    "CONTACT_KEY_PROPERTIES",
    "AccountKeys",
    "ContactKeys",
    "DedupKey",
    "DedupSignal",
    "KeyMemo",
    "ObjectKind",
    "account_keys",
    "company_domain_root",
    "contact_keys",
    "contact_keys_of",
    "dedup_keys",
    "lock_id",
    "object_type_lock_id",
]

DedupSignal = Literal["email", "domain", "name_company"]


class ContactKeys(NamedTuple):
    """The matching keys of one contact.

    ``company_domain_root`` is the root domain of the primary e-mail address, None for a free
    mailbox provider's address (gmail.com says nothing about the person's company).

    A named tuple (as :class:`AccountKeys`): ingest makes one per new record, and a frozen
    dataclass's ``__init__`` cost three times as much. Compared by value, as before (and, being tuples,
    equal to a plain tuple of the same values: compare keys with keys).
    """

    emails: frozenset[str]
    primary_email: str | None
    name_normalized: str | None
    company_name_key: str | None
    company_domain_root: str | None


class AccountKeys(NamedTuple):
    """The matching keys of one account (a HubSpot company)."""

    domain_root: str | None
    name_normalized: str | None


@dataclass(frozen=True, slots=True, order=True)
class DedupKey:
    """One value a record is matched on by one signal, e.g. ``("contact", "email", "jane@acme.com")``."""

    object_type: ObjectKind
    signal: DedupSignal
    value: str


#: the properties :func:`contact_keys` and :func:`account_keys` read, and nothing else
#: (:class:`KeyMemo` tells records apart by their values)
CONTACT_KEY_PROPERTIES = ("email", "hs_additional_emails", "firstname", "lastname", "company")
ACCOUNT_KEY_PROPERTIES = ("domain", "name")


def contact_keys(properties: Mapping[str, str | None]) -> ContactKeys:
    """Keys from HubSpot contact properties ``email``, ``hs_additional_emails`` (``;``-separated),
    ``firstname``, ``lastname`` and ``company``; missing properties count as empty."""
    get = properties.get
    return _contact_keys(
        get("email"), get("hs_additional_emails"), get("firstname"), get("lastname"), get("company")
    )


def contact_keys_of(
    email: str | None, additional: str | None, first: str | None, last: str | None, company: str | None
) -> ContactKeys:
    """:func:`contact_keys` of the five properties' values, in Python: the specification the compiled
    keys (:data:`COMPILED_CONTACT_KEYS`) are held to."""
    primary = normalize_email(email)
    # the domain alone, not the address, so root_domain's memo hits once per company
    domain_root = company_domain_root(primary.rpartition("@")[2]) if primary is not None else None
    return ContactKeys(  # positional, in the fields' order (a third of a keyword call's cost)
        email_keys(email, additional, primary=primary),
        primary,
        person_key(first, last),
        company_name_key(company),
        domain_root,
    )


def company_domain_root(host: str) -> str | None:
    """The company domain of an e-mail address's host: its root domain, None for a free mailbox
    provider's (gmail.com says nothing about the person's company)."""
    root = root_domain(host)
    return None if is_freemail(root) else root


def _compiled_contact_keys() -> Callable[..., ContactKeys | None] | None:
    try:
        from hubsync_matching_native import ContactKeyMaker
    except ImportError:  # not installed: Python computes every key, as before it existed
        return None
    return cast(Callable[..., ContactKeys | None], ContactKeyMaker(ContactKeys, company_domain_root))


#: the compiled contact keys (``native/matching``, the ``hubsync-matching-native`` package) when
#: installed: :func:`contact_keys_of` of ASCII values in ~1.6 µs instead of ~5 (docs/performance.md),
#: None for any other value, which Python then keys
COMPILED_CONTACT_KEYS = _compiled_contact_keys()


def _contact_keys(
    email: str | None, additional: str | None, first: str | None, last: str | None, company: str | None
) -> ContactKeys:
    if COMPILED_CONTACT_KEYS is not None:
        found = COMPILED_CONTACT_KEYS(email, additional, first, last, company)
        if found is not None:
            return found
    return contact_keys_of(email, additional, first, last, company)


def account_keys(properties: Mapping[str, str | None]) -> AccountKeys:
    """Keys from HubSpot company properties ``domain`` (root domain) and ``name`` (without legal form)."""
    return AccountKeys(
        domain_root=root_domain(properties.get("domain")),
        name_normalized=company_name_key(properties.get("name")),
    )


def dedup_keys(object_type: ObjectKind, keys: ContactKeys | AccountKeys) -> frozenset[DedupKey]:
    """The values each duplicate signal matches ``keys`` on.

    Contacts: one ``email`` key per address; ``name_company`` keys ``"<name>|<company>"`` and
    ``"<name>|@<domain root>"`` when both parts exist (the name alone is too weak). Accounts:
    ``domain`` on the root domain, ``name_company`` on the normalized name. Two records that
    :func:`hubsync.matching.duplicates.flag_duplicates` pairs always share at least one key.
    """
    out: set[DedupKey] = set()
    if isinstance(keys, ContactKeys):
        if object_type != "contact":
            raise ValueError(f"contact keys given for object type {object_type!r}")
        out.update(DedupKey("contact", "email", email) for email in keys.emails)
        name = keys.name_normalized
        if name is not None:
            if keys.company_name_key is not None:
                out.add(DedupKey("contact", "name_company", f"{name}|{keys.company_name_key}"))
            if keys.company_domain_root is not None:
                out.add(DedupKey("contact", "name_company", f"{name}|@{keys.company_domain_root}"))
        return frozenset(out)
    if object_type != "account":
        raise ValueError(f"account keys given for object type {object_type!r}")
    if keys.domain_root is not None:
        out.add(DedupKey("account", "domain", keys.domain_root))
    if keys.name_normalized is not None:
        out.add(DedupKey("account", "name_company", keys.name_normalized))
    return frozenset(out)


def lock_id(key: DedupKey, portal: int = 0) -> int:
    """A stable signed 64-bit id for ``pg_advisory_xact_lock``: the first 8 bytes of a BLAKE2b
    digest of the key (fields joined by the unit separator, which no key value contains).

    Stable across processes and Python versions (unlike ``hash()``), so every worker locks the
    same id for the same key. A collision only makes two unrelated keys wait for each other.
    Keys are the ``portal``'s: duplicates are never looked for across portals.
    """
    return advisory_lock_id("hubsync.dedup", str(portal), key.object_type, key.signal, key.value)


def object_type_lock_id(object_type: ObjectKind, portal: int = 0) -> int:
    """The advisory-lock id standing for every key of ``object_type`` at once (see
    :func:`hubsync.matching.duplicates.flag_duplicates`) in ``portal``, so one portal's big batch
    never holds up another's; never equal to a :func:`lock_id` but by a 64-bit hash collision."""
    return advisory_lock_id("hubsync.dedup", str(portal), object_type, "*")


def keys_of(kind: ObjectKind, properties: Mapping[str, str | None]) -> ContactKeys | AccountKeys:
    """The matching keys of a record's properties (:func:`contact_keys` or :func:`account_keys`)."""
    return contact_keys(properties) if kind == "contact" else account_keys(properties)


class KeyMemo:
    """:func:`keys_of` for the records of one batch, remembered by the values the keys are made
    of: a batch asks for a record's keys several times (as loaded, for the mappings, as written),
    and its properties may change in between (the reducer, autofill), which a new value tuple
    sees. Kept for one batch only, so nothing outlives it (a process-wide ``lru_cache`` of 32,768
    entries cost ~3 µs of bookkeeping per miss, the common case in a backfill where every contact
    is new, and kept its entries in the collector's sight). One thread uses it."""

    __slots__ = ("_accounts", "_contacts")

    def __init__(self) -> None:
        self._contacts: dict[tuple[str | None, ...], ContactKeys] = {}
        self._accounts: dict[tuple[str | None, str | None], AccountKeys] = {}

    def __call__(self, kind: ObjectKind, properties: Mapping[str, str | None]) -> ContactKeys | AccountKeys:
        # the values of CONTACT_KEY_PROPERTIES / ACCOUNT_KEY_PROPERTIES, spelled out: a tuple
        # display takes a third of the time of tuple(map(get, names)), and this runs several times
        # per record (tests/matching/test_record_keys.py holds the two to the constants)
        get = properties.get
        if kind == "contact":
            values = (
                get("email"),
                get("hs_additional_emails"),
                get("firstname"),
                get("lastname"),
                get("company"),
            )
            found = self._contacts.get(values)
            if found is None:
                found = self._contacts[values] = _contact_keys(*values)
            return found
        pair = (get("domain"), get("name"))
        known = self._accounts.get(pair)
        if known is None:
            known = self._accounts[pair] = account_keys(properties)
        return known


#: columns derived from the properties and keys, per kind (platform-side writes use them too)
DERIVED_COLUMNS: Mapping[ObjectKind, tuple[str, ...]] = {
    "contact": (
        "email",
        "first_name",
        "last_name",
        "name_normalized",
        "company_name",
        "company_name_key",
        "company_domain_root",
    ),
    "account": ("name", "domain", "domain_root", "name_normalized"),
}


def derived_values(kind: ObjectKind, p: Mapping[str, str | None], keys: Any) -> tuple[Any, ...]:
    """The values of :data:`DERIVED_COLUMNS` for a record's properties and matching keys."""
    if kind == "contact":
        assert isinstance(keys, ContactKeys)
        return (
            p.get("email"),
            p.get("firstname"),
            p.get("lastname"),
            keys.name_normalized,
            p.get("company"),
            keys.company_name_key,
            keys.company_domain_root,
        )
    assert isinstance(keys, AccountKeys)
    return (p.get("name"), p.get("domain"), keys.domain_root, keys.name_normalized)
