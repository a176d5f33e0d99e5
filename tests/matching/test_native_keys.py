"""The compiled contact keys (native/matching) equal the Python keys, the specification, for every
ASCII value, and leave every other value to Python."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync.matching import record_keys
from hubsync.matching.record_keys import (
    COMPILED_CONTACT_KEYS,
    ContactKeys,
    company_domain_root,
    contact_keys,
    contact_keys_of,
)

EXAMPLES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: every ASCII character, the ones the rules treat specially several times over
ASCII = st.characters(max_codepoint=127)
SPECIAL = st.sampled_from(list("@.+-_/&'`;, \t\n\x0b\x0c\r\x1c\x1f\x00\x7fAZaz09"))
TEXT = st.text(st.one_of(ASCII, SPECIAL), max_size=24)

LOCAL = st.text(
    st.sampled_from(list(string.ascii_letters + string.digits + ".+-_'")), min_size=0, max_size=10
)
LABEL = st.text(st.sampled_from(list(string.ascii_letters + string.digits + "-_")), min_size=0, max_size=8)
HOST = st.one_of(
    st.sampled_from(["gmail.com", "GoogleMail.com", "acme.co.uk", "mail.acme.com", "yahoo.com", "github.io"]),
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
)
EMAIL = st.builds(
    lambda pad, local, host, dot, pad2: f"{pad}{local}@{host}{dot}{pad2}",
    st.sampled_from(["", " ", "\t", "\x1c"]),
    LOCAL,
    HOST,
    st.sampled_from(["", "."]),
    st.sampled_from(["", " ", "\n"]),
)
ADDITIONAL = st.lists(st.one_of(EMAIL, TEXT), max_size=4).flatmap(
    lambda parts: st.sampled_from([";", ",", " ; ", ";;", "\t"]).map(lambda sep: sep.join(parts))
)
WORD = st.sampled_from(
    [
        "the",
        "Acme",
        "ACME",
        "co",
        "Co.",
        "GmbH",
        "&",
        "Inc",
        "A/S",
        "S.p.A.",
        "and",
        "Ltd",
        "b/v",
        "O'Brien",
        "x/y/z",
    ]
)
COMPANY = st.lists(st.one_of(WORD, TEXT), max_size=5).flatmap(
    lambda words: st.sampled_from([" ", "  ", ", ", "-", "/"]).map(lambda sep: sep.join(words))
)
NAME = st.one_of(st.sampled_from(["Jane", "O'Brien", "Jean-Luc", "  ", "Mc`Donald", "x"]), TEXT)


def maybe(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.just(""), values)


def test_the_compiled_keys_are_installed() -> None:
    """The README's and CI's install commands install them; without them Python keys every contact."""
    assert COMPILED_CONTACT_KEYS is not None


@EXAMPLES
@given(
    email=maybe(st.one_of(EMAIL, TEXT)),
    additional=maybe(ADDITIONAL),
    first=maybe(NAME),
    last=maybe(NAME),
    company=maybe(COMPANY),
)
def test_the_same_keys_as_python_for_ascii_values(
    email: str | None, additional: str | None, first: str | None, last: str | None, company: str | None
) -> None:
    assert COMPILED_CONTACT_KEYS is not None
    compiled = COMPILED_CONTACT_KEYS(email, additional, first, last, company)
    assert isinstance(compiled, ContactKeys)
    assert compiled == contact_keys_of(email, additional, first, last, company)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            (" J.Doe+crm@GoogleMail.com. ", "jane@Acme.com; j.doe@gmail.com", "Jane", "Doe", "ACME, Inc."),
            ContactKeys(
                frozenset({"jdoe@gmail.com", "jane@acme.com"}), "jdoe@gmail.com", "jane doe", "acme", None
            ),
        ),
        (
            ("Jane@Mail.Acme.co.uk", None, "Jean-Luc", "O'Brien", "The Acme Company A/S"),
            ContactKeys(
                frozenset({"jane@mail.acme.co.uk"}),
                "jane@mail.acme.co.uk",
                "jean luc obrien",
                "acme",
                "acme.co.uk",
            ),
        ),
        (
            ("+tag@acme.com", "", "Cher", None, "Limited"),
            ContactKeys(frozenset({"+tag@acme.com"}), "+tag@acme.com", None, "limited", "acme.com"),
        ),
        (
            ("no address", "a@b;c@@d", None, None, "GmbH & Co. KG"),
            ContactKeys(frozenset(), None, None, "gmbh", None),
        ),
    ],
)
def test_examples(values: tuple[str | None, ...], expected: ContactKeys) -> None:
    assert COMPILED_CONTACT_KEYS is not None
    assert COMPILED_CONTACT_KEYS(*values) == expected
    assert contact_keys_of(*values) == expected


@pytest.mark.parametrize(
    "values",
    [
        ("zoë@acme.com", None, "Zoe", "Doe", None),
        ("x@bücher.de", None, None, None, None),
        (None, None, "Zoë", "O'Brien", None),
        (None, "a@b.com;ß@c.de", None, None, None),
        (None, None, None, None, "Müller GmbH"),
        ("jane@acme.com", None, "Jane", "Doe", 42),
    ],
)
def test_other_values_are_left_to_python(values: tuple[Any, ...]) -> None:
    """Non-ASCII text needs Unicode normalization and IDNA, and a value of another type is
    whatever Python makes of it: the compiled keys say None and Python keys the contact."""
    assert COMPILED_CONTACT_KEYS is not None
    assert COMPILED_CONTACT_KEYS(*values) is None


def test_contact_keys_keys_non_ascii_values_in_python() -> None:
    keys = contact_keys(
        {"email": "X@Bücher.de", "firstname": "Zoë", "lastname": "O'Brien", "company": "Müller GmbH"}
    )
    assert keys == ContactKeys(
        frozenset({"x@xn--bcher-kva.de"}), "x@xn--bcher-kva.de", "zoe obrien", "muller", "xn--bcher-kva.de"
    )


def test_a_hosts_company_domain_is_asked_of_python_once() -> None:
    from hubsync_matching_native import ContactKeyMaker

    asked: list[str] = []

    def company_domain(host: str) -> str | None:
        asked.append(host)
        return company_domain_root(host)

    maker = ContactKeyMaker(ContactKeys, company_domain)
    first = maker("jane@mail.acme.co.uk", None, None, None, None)
    again = maker("john@MAIL.acme.co.uk.", None, None, None, None)
    free = maker("j.doe@googlemail.com", None, None, None, None)
    assert (first.company_domain_root, again.company_domain_root, free.company_domain_root) == (
        "acme.co.uk",
        "acme.co.uk",
        None,
    )
    assert asked == ["mail.acme.co.uk", "gmail.com"]


def test_without_the_package_python_keys_every_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record_keys, "COMPILED_CONTACT_KEYS", None)
    props = {"email": "J.Doe@GoogleMail.com", "firstname": "Jane", "lastname": "Doe", "company": "Acme Inc"}
    assert contact_keys(props) == ContactKeys(
        frozenset({"jdoe@gmail.com"}), "jdoe@gmail.com", "jane doe", "acme", None
    )
