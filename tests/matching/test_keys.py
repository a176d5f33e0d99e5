"""Matching keys: tables of edge cases, and properties (idempotent, total) over arbitrary text."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.matching import (
    company_name_key,
    email_keys,
    normalize_email,
    normalize_name,
    person_key,
    root_domain,
)
from hubsync.matching.record_keys import contact_keys


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane.Doe+CRM@Acme.COM ", "jane.doe@acme.com"),
        ("  jane@acme.com\n", "jane@acme.com"),
        ("JANE@ACME.COM", "jane@acme.com"),
        ("jane+a+b@acme.com", "jane@acme.com"),
        ("jane+@acme.com", "jane@acme.com"),
        ("+tag@acme.com", "+tag@acme.com"),  # nothing before the "+": no sub-address to drop
        ("jane-doe@acme.com", "jane-doe@acme.com"),  # "-" is no sub-address separator
        ("jane@acme.com.", "jane@acme.com"),
        ("jane@mail.acme.com", "jane@mail.acme.com"),  # the full domain, not the root
        ("o'brien@acme.ie", "o'brien@acme.ie"),
        # Gmail ignores dots; googlemail.com is gmail.com
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("J.Doe+news@GoogleMail.com", "jdoe@gmail.com"),
        ("jdoe@googlemail.com", "jdoe@gmail.com"),
        ("j.doe@outlook.com", "j.doe@outlook.com"),  # dots only fold at Gmail
        ("j.doe@mail.gmail.com", "j.doe@mail.gmail.com"),
        ("...@gmail.com", None),
        # IDN domains in punycode; both spellings match
        ("x@Bücher.de", "x@xn--bcher-kva.de"),
        ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
        ("x@BÜCHER.DE", "x@xn--bcher-kva.de"),
        ("jörg@acme.de", "jörg@acme.de"),  # internationalised local parts are kept (lower-cased)
        ("JÖRG@acme.de", "jörg@acme.de"),
        ("jo\u0308rg@acme.de", "jörg@acme.de"),  # NFC
        # invalid
        (None, None),
        ("", None),
        ("   ", None),
        ("jane", None),
        ("jane.acme.com", None),
        ("@acme.com", None),
        ("jane@", None),
        ("jane@@acme.com", None),
        ("a@b@acme.com", None),
        ("jane doe@acme.com", None),
        ("jane@acme .com", None),
        ("jane\t@acme.com", None),
        ("jane\x00@acme.com", None),
        ("jane@localhost", None),
        ("jane@acme", None),
        ("jane@[192.168.0.1]", None),
        ("jane@acme..com", None),
        ("jane@.acme.com", None),
        ("jane@acme.com..", None),
        ("jane@" + "a" * 64 + ".com", None),
        ("Jane Doe <jane@acme.com>", None),
    ],
)
def test_normalize_email(value: str | None, expected: str | None) -> None:
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    ("email", "additional", "expected"),
    [
        ("jane@acme.com", None, {"jane@acme.com"}),
        (None, None, set()),
        ("", "", set()),
        ("bad", "also bad", set()),
        (None, "a@x.com;b@y.com", {"a@x.com", "b@y.com"}),
        ("Jane+crm@Acme.com", "jane@acme.com", {"jane@acme.com"}),
        ("jane@acme.com", "A@x.com; b@x.com ;c@x.com", {"jane@acme.com", "a@x.com", "b@x.com", "c@x.com"}),
        ("jane@acme.com", "a@x.com,b@x.com, c@x.com", {"jane@acme.com", "a@x.com", "b@x.com", "c@x.com"}),
        ("jane@acme.com", "a@x.com b@x.com\nc@x.com", {"jane@acme.com", "a@x.com", "b@x.com", "c@x.com"}),
        ("jane@acme.com", ";;a@x.com;;", {"jane@acme.com", "a@x.com"}),
        ("jane@acme.com", "a@x.com;not-an-email;@x.com;b@", {"jane@acme.com", "a@x.com"}),
        ("j.doe@gmail.com", "jdoe+old@googlemail.com", {"jdoe@gmail.com"}),
    ],
)
def test_email_keys(email: str | None, additional: str | None, expected: set[str]) -> None:
    keys = email_keys(email, additional)
    assert isinstance(keys, frozenset)
    assert keys == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme.com", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("WWW.ACME.COM", "acme.com"),
        ("  Acme.Com  ", "acme.com"),
        ("eu.shop.acme.com", "acme.com"),
        ("acme.co.uk", "acme.co.uk"),
        ("https://www.Acme.co.uk/about?x", "acme.co.uk"),
        ("http://acme.com", "acme.com"),
        ("HTTPS://ACME.COM/", "acme.com"),
        ("//cdn.acme.com/x.js", "acme.com"),
        ("www.acme.com/about", "acme.com"),
        ("acme.com?utm=1", "acme.com"),
        ("acme.com#top", "acme.com"),
        ("acme.com:8080", "acme.com"),
        ("https://user:secret@www.acme.com:8443/path", "acme.com"),
        ("acme.com.", "acme.com"),
        ("www.acme.com./", "acme.com"),
        ("x@mail.acme.com", "acme.com"),
        ("Jane.Doe+crm@Acme.COM", "acme.com"),
        ("mailto:jane@acme.com", "acme.com"),
        ("shop.acme.com.au", "acme.com.au"),
        ("acme.com.br", "acme.com.br"),
        ("acme.co.jp", "acme.co.jp"),
        ("city.kawasaki.jp", "city.kawasaki.jp"),  # a PSL exception rule (!city.kawasaki.jp)
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),
        ("foo.bar.kawasaki.jp", "foo.bar.kawasaki.jp"),  # a wildcard rule (*.kawasaki.jp)
        # IDN, both spellings
        ("Müller.de", "xn--mller-kva.de"),
        ("www.xn--mller-kva.de", "xn--mller-kva.de"),
        ("https://www.MÜLLER.de/kontakt", "xn--mller-kva.de"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
        # private PSL rules apply: every github.io / herokuapp.com site is its own organisation
        ("acme.github.io", "acme.github.io"),
        ("www.acme.github.io", "acme.github.io"),
        ("docs.acme.github.io", "acme.github.io"),
        ("api.acme.herokuapp.com", "acme.herokuapp.com"),
        ("acme.blogspot.com", "acme.blogspot.com"),
        # ... and a host that is a private suffix itself is its operator's domain (ICANN rules)
        ("github.io", "github.io"),
        ("https://herokuapp.com", "herokuapp.com"),
        # unknown TLDs follow the PSL default rule "*"
        ("www.acme.notarealtld", "acme.notarealtld"),
        # no root domain
        (None, None),
        ("", None),
        ("   ", None),
        ("acme", None),
        ("localhost", None),
        ("localhost:8080", None),
        ("http://localhost/x", None),
        ("printer.local", None),
        ("acme.test", None),
        ("acme.example", None),
        ("acme.invalid", None),
        ("gitlab.internal", None),
        ("nas.home.arpa", None),
        ("com", None),
        ("co.uk", None),
        ("www.co.uk", "www.co.uk"),  # registrable under co.uk, however odd
        (".co.uk", None),
        ("com.au", None),
        ("1.2.3.4", None),
        ("http://192.168.0.1:8080/admin", None),
        ("x@10.0.0.1", None),
        ("[::1]", None),
        ("http://[2001:db8::1]:80/", None),
        ("2001:db8::1", None),
        ("acme..com", None),
        ("acme.com..", None),
        ("ac me.com", None),
        ("acme.com:port", None),
        ("a" * 64 + ".com", None),
        ("acme.com:", None),
        ("http://", None),
        ("@", None),
        ("x@", None),
        ("!!!.com", None),
    ],
)
def test_root_domain(value: str | None, expected: str | None) -> None:
    assert root_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Zoë  O'Brien", "zoe obrien"),
        ("ZOE OBRIEN", "zoe obrien"),
        ("zoe o\u2019brien", "zoe obrien"),  # typographic apostrophe
        ("Zoe\u0308 O`Brien", "zoe obrien"),  # decomposed umlaut, backtick
        ("Jean-Luc Picard", "jean luc picard"),
        ("Jean Luc  Picard ", "jean luc picard"),
        ("  José\tGarcía ", "jose garcia"),
        ("Smith, John", "smith john"),
        ("J. R. R. Tolkien", "j r r tolkien"),
        ("Renée", "renee"),
        ("Łukasz Żółć", "lukasz zolc"),
        ("Søren Kierkegaard", "soren kierkegaard"),
        ("Straße", "strasse"),
        ("Ærø", "aero"),
        ("İstanbul", "istanbul"),
        ("\u210cello", "hello"),  # compatibility characters
        ("\uff46\uff55\uff4c\uff4c width", "full width"),
        ("Müller_Lüdenscheidt", "muller ludenscheidt"),
        ("Agent 007", "agent 007"),
        ("李小龍", "李小龍"),  # scripts without case are kept
        ("Ольга", "ольга"),
        ("", None),
        ("   ", None),
        ("'", None),
        ("-- / --", None),
        (None, None),
    ],
)
def test_normalize_name(value: str | None, expected: str | None) -> None:
    assert normalize_name(value) == expected


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Zoë", "O'Brien", "zoe obrien"),
        ("Zoë ", "O'BRIEN", "zoe obrien"),
        ("ZOË", "o'brien", "zoe obrien"),
        ("John Smith", None, "john smith"),  # a full name in the first-name field
        (None, "John Smith", "john smith"),
        ("Mary Ann", "Smith-Jones", "mary ann smith jones"),
        ("John", None, None),  # one name alone is too weak
        (None, "Smith", None),
        ("", "", None),
        (None, None, None),
        ("  ", "Smith", None),
        ("-", "-", None),
    ],
)
def test_person_key(first: str | None, last: str | None, expected: str | None) -> None:
    assert person_key(first, last) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Acme GmbH", "acme"),
        ("ACME", "acme"),
        ("Acme, Inc.", "acme"),
        ("Acme Inc", "acme"),
        ("Acme Incorporated", "acme"),
        ("Acme LLC", "acme"),
        ("Acme Ltd", "acme"),
        ("Acme Ltd.", "acme"),
        ("Acme Limited", "acme"),
        ("Acme PLC", "acme"),
        ("Acme LLP", "acme"),
        ("Acme Corp.", "acme"),
        ("Acme Corporation", "acme"),
        ("Acme Co.", "acme"),
        ("Acme & Co.", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme (Pty) Ltd", "acme"),
        ("Acme Pvt. Ltd.", "acme"),
        ("Acme Pte. Ltd.", "acme"),
        ("Acme S.A.", "acme"),
        ("Acme SA", "acme"),
        ("Acme SAS", "acme"),
        ("Acme SARL", "acme"),
        ("Acme B.V.", "acme"),
        ("Acme BV", "acme"),
        ("Acme N.V.", "acme"),
        ("Acme AG", "acme"),
        ("Acme GmbH & Co. KG", "acme"),
        ("Acme S.r.l.", "acme"),
        ("Acme S.p.A.", "acme"),
        ("Acme S.L.", "acme"),
        ("Acme AB", "acme"),
        ("Acme Oy", "acme"),
        ("Acme A/S", "acme"),
        ("Acme Ltda.", "acme"),
        ("Acme K.K.", "acme"),
        ("Acme DAC", "acme"),
        ("The Acme Company", "acme"),
        ("Acme Company Inc.", "acme"),
        ("Blue River Analytics Inc.", "blue river analytics"),
        ("Müller Bäckerei GmbH", "muller backerei"),
        ("Smith & Sons Ltd", "smith and sons"),
        ("Smith and Sons", "smith and sons"),
        ("AT&T Inc.", "at and t"),
        # the last word always stays: the name IS a legal-form word
        ("Limited", "limited"),
        ("Inc.", "inc"),
        ("The Company", "company"),
        ("The", "the"),
        ("", None),
        ("...", None),
        (None, None),
    ],
)
def test_company_name_key(value: str | None, expected: str | None) -> None:
    assert company_name_key(value) == expected


def test_company_name_key_matches_spelling_variants() -> None:
    variants = ["Acme GmbH", "ACME", "Acme, Inc.", "acme ltd", "The Acme Company", "ACME S.A."]
    assert {company_name_key(v) for v in variants} == {"acme"}


# ---- properties ---------------------------------------------------------------------------------

_TEXT = st.text(max_size=60)
_EMAILISH = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(max_size=20),
    st.text(max_size=20),
    st.sampled_from(["com", "co.uk", "de", "io", "COM", "рф", "github.io", ""]),
)
_HOSTISH = st.builds(
    lambda scheme, sub, name, tld, rest: f"{scheme}{sub}{name}.{tld}{rest}",
    st.sampled_from(["", "http://", "https://", "//", "x@"]),
    st.sampled_from(["", "www.", "WWW.", "mail.", "a.b."]),
    st.text(max_size=15),
    st.sampled_from(["com", "co.uk", "de", "github.io", "рф", "local", "", "1"]),
    st.sampled_from(["", "/", ":80", "/a?b#c", "."]),
)

_KEYS: list[tuple[str, Callable[[str], str | None]]] = [
    ("normalize_email", normalize_email),
    ("root_domain", root_domain),
    ("normalize_name", normalize_name),
    ("company_name_key", company_name_key),
]


@pytest.mark.parametrize(("name", "key"), _KEYS)
@settings(max_examples=400, deadline=None)
@given(value=st.one_of(_TEXT, _EMAILISH, _HOSTISH))
def test_idempotent_and_total(name: str, key: Callable[[str], str | None], value: str) -> None:
    result = key(value)  # never raises
    assert result is None or isinstance(result, str), name
    if result is not None:
        assert result, name  # never an empty key
        assert key(result) == result, name


@settings(max_examples=300, deadline=None)
@given(first=st.one_of(st.none(), _TEXT), last=st.one_of(st.none(), _TEXT))
def test_person_key_is_a_normalized_name(first: str | None, last: str | None) -> None:
    key = person_key(first, last)
    if key is not None:
        assert normalize_name(key) == key
        assert person_key(key, None) == key
        assert person_key(None, key) == key


@settings(max_examples=300, deadline=None)
@given(email=st.one_of(st.none(), _EMAILISH, _TEXT), extra=st.one_of(st.none(), _TEXT, _EMAILISH))
def test_email_keys_are_normalized(email: str | None, extra: str | None) -> None:
    keys = email_keys(email, extra)
    assert all(normalize_email(k) == k for k in keys)
    if (primary := normalize_email(email)) is not None:
        assert primary in keys


@settings(max_examples=300, deadline=None)
@given(email=_EMAILISH)
def test_email_domain_and_root_domain_agree(email: str) -> None:
    """The root domain of a normalized address is the root domain of the raw one."""
    key = normalize_email(email)
    if key is not None and not key.endswith("@gmail.com"):
        assert root_domain(key) == root_domain(email)


def test_every_single_character_normalizes_idempotently() -> None:
    """Exhaustive over the BMP (NFKD, case folding and mark stripping interact in odd corners)."""
    bad = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = f"a{chr(cp)}b"
        once = normalize_name(text)
        if once is not None and normalize_name(once) != once:
            bad.append(hex(cp))
    assert bad == []


@settings(max_examples=300, deadline=None)
@given(email=st.one_of(st.none(), _EMAILISH, _TEXT), extra=st.one_of(st.none(), _TEXT, _EMAILISH))
def test_a_contact_s_keys_hold_exactly_its_email_keys(email: str | None, extra: str | None) -> None:
    """contact_keys normalizes the primary address once and hands the normalized one to email_keys."""
    assert contact_keys({"email": email, "hs_additional_emails": extra}).emails == email_keys(email, extra)
