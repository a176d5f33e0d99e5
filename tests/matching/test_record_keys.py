"""Duplicate keys of HubSpot records, free mailbox domains, and advisory-lock ids (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.matching import is_freemail, root_domain
from hubsync.matching.freemail import FREEMAIL_DOMAINS
from hubsync.matching.record_keys import (
    ACCOUNT_KEY_PROPERTIES,
    CONTACT_KEY_PROPERTIES,
    AccountKeys,
    ContactKeys,
    DedupKey,
    KeyMemo,
    ObjectKind,
    account_keys,
    contact_keys,
    dedup_keys,
    lock_id,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gmail.com", True),
        ("googlemail.com", True),
        ("yahoo.co.uk", True),
        ("mail.yahoo.co.uk", True),  # compared on the root domain
        ("jane@GMX.de", True),
        ("proton.me", True),
        ("163.com", True),
        ("acme.com", False),
        ("gmail.acme.com", False),
        ("", False),
        (None, False),
        ("not a domain", False),
    ],
)
def test_is_freemail(value: str | None, expected: bool) -> None:
    assert is_freemail(value) is expected


def test_freemail_list_holds_root_domains() -> None:
    assert len(FREEMAIL_DOMAINS) >= 60
    assert all(root_domain(d) == d for d in FREEMAIL_DOMAINS)


def test_contact_keys_from_properties() -> None:
    keys = contact_keys(
        {
            "email": " Jane.Doe+crm@Mail.Acme.COM ",
            "hs_additional_emails": "j.doe@gmail.com;jane@acme.io; ;bad",
            "firstname": "Zoë ",
            "lastname": "O'Brien",
            "company": "ACME, Inc.",
        }
    )
    assert keys == ContactKeys(
        emails=frozenset({"jane.doe@mail.acme.com", "jdoe@gmail.com", "jane@acme.io"}),
        primary_email="jane.doe@mail.acme.com",
        name_normalized="zoe obrien",
        company_name_key="acme",
        company_domain_root="acme.com",
    )


def test_contact_keys_freemail_primary_gives_no_company_domain() -> None:
    keys = contact_keys({"email": "jane@hotmail.co.uk", "firstname": "Jane", "lastname": "Doe"})
    assert keys.primary_email == "jane@hotmail.co.uk"
    assert keys.company_domain_root is None
    assert keys.company_name_key is None


def test_contact_keys_of_an_empty_contact() -> None:
    assert contact_keys({}) == ContactKeys(frozenset(), None, None, None, None)
    # only additional addresses: e-mail keys, but no primary and no company domain
    keys = contact_keys({"email": None, "hs_additional_emails": "x@acme.com", "firstname": "Jane"})
    assert keys.emails == frozenset({"x@acme.com"})
    assert (keys.primary_email, keys.company_domain_root, keys.name_normalized) == (None, None, None)


def test_account_keys_from_properties() -> None:
    assert account_keys({"domain": "https://www.Acme.co.uk/about", "name": "The Acme Company Ltd"}) == (
        AccountKeys(domain_root="acme.co.uk", name_normalized="acme")
    )
    assert account_keys({}) == AccountKeys(None, None)


def test_dedup_keys_of_a_contact() -> None:
    keys = ContactKeys(frozenset({"a@acme.com", "b@acme.com"}), "a@acme.com", "jane doe", "acme", "acme.com")
    assert dedup_keys("contact", keys) == {
        DedupKey("contact", "email", "a@acme.com"),
        DedupKey("contact", "email", "b@acme.com"),
        DedupKey("contact", "name_company", "jane doe|acme"),
        DedupKey("contact", "name_company", "jane doe|@acme.com"),
    }


def test_dedup_keys_need_both_name_and_company() -> None:
    no_name = ContactKeys(frozenset(), None, None, "acme", "acme.com")
    no_company = ContactKeys(frozenset({"a@gmail.com"}), "a@gmail.com", "jane doe", None, None)
    assert dedup_keys("contact", no_name) == frozenset()
    assert dedup_keys("contact", no_company) == {DedupKey("contact", "email", "a@gmail.com")}


def test_dedup_keys_of_an_account() -> None:
    assert dedup_keys("account", AccountKeys("acme.com", "acme")) == {
        DedupKey("account", "domain", "acme.com"),
        DedupKey("account", "name_company", "acme"),
    }
    assert dedup_keys("account", AccountKeys(None, None)) == frozenset()


def test_dedup_keys_reject_a_mismatched_object_type() -> None:
    with pytest.raises(ValueError, match="object type"):
        dedup_keys("account", ContactKeys(frozenset(), None, None, None, None))
    with pytest.raises(ValueError, match="object type"):
        dedup_keys("contact", AccountKeys(None, None))


def test_lock_id_is_stable_signed_64_bit_and_distinct() -> None:
    key = DedupKey("contact", "email", "jane@acme.com")
    assert lock_id(key) == lock_id(DedupKey("contact", "email", "jane@acme.com"))
    # pinned: every process and Python version must lock the same id for the same key
    assert lock_id(key) == PINNED_LOCK_ID
    ids = {
        lock_id(DedupKey(t, s, v))
        for t in ("contact", "account")
        for s in ("email", "domain", "name_company")
        for v in ("acme.com", "jane@acme.com", "x")
    }
    assert len(ids) == 18
    # the same key in two portals: two locks (duplicates are never looked for across portals)
    assert lock_id(key, 62515) != lock_id(key, 777001) != lock_id(key)
    assert all(-(2**63) <= i < 2**63 for i in ids)
    assert any(i < 0 for i in ids)


PINNED_LOCK_ID = -6217881318929766975


def test_key_memo_follows_the_properties_it_is_given() -> None:
    """A batch's memo gives each record's keys once per set of key values, and new keys once the
    reducer or autofill changed a key property in place; other properties do not count."""
    memo = KeyMemo()
    props: dict[str, str | None] = {"email": "Jane@Acme.com", "firstname": "Jane", "lastname": "Doe"}
    first = memo("contact", props)
    assert first == contact_keys(props)
    props["jobtitle"] = "CTO"  # not a key property: the same keys, the same object
    assert memo("contact", props) is first
    props["company"] = "Acme Inc."
    changed = memo("contact", props)
    assert changed == contact_keys(props) and changed.company_name_key == "acme" != first.company_name_key
    company: dict[str, str | None] = {"domain": "www.acme.com", "name": "Acme GmbH"}
    assert memo("account", company) == account_keys(company) == AccountKeys("acme.com", "acme")
    company["domain"] = "acme.io"
    assert memo("account", company) == AccountKeys("acme.io", "acme")


class _Reads(dict[str, str | None]):
    """Properties that remember which names were asked for."""

    def __init__(self, values: dict[str, str | None]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str | None:
        self.asked.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    ("kind", "names", "keys"),
    [("contact", CONTACT_KEY_PROPERTIES, contact_keys), ("account", ACCOUNT_KEY_PROPERTIES, account_keys)],
)
def test_the_memo_tells_records_apart_by_every_property_the_keys_read(
    kind: ObjectKind, names: tuple[str, ...], keys: Any
) -> None:
    """The keys read only the named properties, and the memo sees a change of each of them: a key
    property added to one but not the other would give a record another's keys."""
    values: dict[str, str | None] = {
        "email": "jane@acme.com",
        "hs_additional_emails": "j@acme.io",
        "firstname": "Jane",
        "lastname": "Doe",
        "company": "Acme",
        "domain": "acme.com",
        "name": "Acme",
        "jobtitle": "CTO",
    }
    read = _Reads(values)
    keys(read)
    assert read.asked <= set(names)
    memo = KeyMemo()
    first = memo(kind, dict(values))
    for name in names:
        assert memo(kind, {**values, name: "changed@other.org"}) is not first, name
