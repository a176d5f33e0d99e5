"""E-mail and name matching keys.

E-mail decisions (:func:`normalize_email`):

* trimmed and lower-cased, the local part too (RFC 5321 lets it be case-sensitive; no mailbox
  provider is, and HubSpot lower-cases e-mails itself); the domain in punycode (see
  :func:`hubsync.matching.domains.canonical_host`), the local part NFC-normalised;
* a ``+tag`` sub-address is dropped (``jane+crm@acme.com`` -> ``jane@acme.com``) when something
  precedes the ``+``; other providers' separators (``-`` at Yahoo) are not, ``-`` is common in
  real local parts;
* **Gmail dots are folded**: Gmail ignores dots in the local part, so ``j.doe@gmail.com`` and
  ``jdoe@gmail.com`` reach one person, and ``googlemail.com`` is an alias of ``gmail.com``: both
  become ``jdoe@gmail.com``. Only those two domains: dots are significant everywhere else, and
  Google Workspace domains cannot be told apart without a DNS lookup;
* invalid -> None: not exactly one ``@``, an empty local part or domain, whitespace or control
  characters anywhere inside, a domain that is not a DNS name of two or more labels (IP
  literals, ``localhost``).

Name decisions (:func:`normalize_name`), one canonical form: Unicode NFKD, accents (nonspacing
marks) stripped, case-folded, a few letters without a decomposition transliterated (``ø`` -> ``o``,
``ł`` -> ``l``, ``æ`` -> ``ae``, ``ß`` -> ``ss``, ...), apostrophes dropped (``O'Brien`` ->
``obrien``), every other run of non-alphanumeric characters (punctuation, hyphens, whitespace)
one space: ``Zoë  O'Brien`` -> ``zoe obrien``, ``Jean-Luc`` -> ``jean luc``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from hubsync.matching.domains import canonical_host

__all__ = ["company_name_key", "email_keys", "normalize_email", "normalize_name", "person_key"]

_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(value: str | None) -> str | None:
    """The canonical form of an e-mail address, or None when ``value`` is no usable address.

    ``" Jane.Doe+CRM@Acme.COM "`` -> ``"jane.doe@acme.com"``; ``"J.Doe+x@googlemail.com"`` ->
    ``"jdoe@gmail.com"``; ``"x@bücher.de"`` -> ``"x@xn--bcher-kva.de"``. See the module doc.
    """
    if not value:
        return None
    text = value.strip()
    if text.count("@") != 1 or _BAD_CHARS.search(text):
        return None
    local, _, domain = text.partition("@")
    if not local or not domain:
        return None
    host = canonical_host(domain)
    if host is None:
        return None
    local = local.lower()
    if not local.isascii():
        local = unicodedata.normalize("NFC", local)
    base = local.partition("+")[0]
    if base:
        local = base
    if host in _GMAIL_DOMAINS:
        host = "gmail.com"
        local = local.replace(".", "")
        if not local:
            return None
    return f"{local}@{host}"


_ADDRESS_SEPARATORS = re.compile(r"[;,\s]+")


def email_keys(
    email: str | None, additional_emails: str | None = None, *, primary: str | None = None
) -> frozenset[str]:
    """The normalized primary ``email`` plus every address of HubSpot's ``hs_additional_emails``
    (semicolon-separated; commas and whitespace are tolerated as separators too); invalid or empty
    ones are dropped, so a contact without a usable address has no key. ``primary``: ``email``
    already normalized, by a caller that needed it too."""
    keys: set[str] = set()
    if primary is None:
        primary = normalize_email(email)
    if primary is not None:
        keys.add(primary)
    if additional_emails:
        for part in _ADDRESS_SEPARATORS.split(additional_emails):
            key = normalize_email(part)
            if key is not None:
                keys.add(key)
    return frozenset(keys)


# ---- names ----------------------------------------------------------------------------------

#: letters NFKD leaves alone, mapped to what people type on an ASCII keyboard
_TRANSLITERATE = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ß": "ss",
        "\u0131": "i",  # dotless i
        "ħ": "h",
        "ŧ": "t",
        "ŀ": "l",
    }
)
#: apostrophes (and their look-alikes) are dropped, not turned into a word break: O'Brien
_APOSTROPHES = frozenset("'`\u00b4\u2018\u2019\u02bc\u02bb\u2032\uff07")
_ASCII_APOSTROPHES = str.maketrans({"'": None, "`": None})
_ASCII_SEPARATORS = re.compile(r"[^a-z0-9]+")


def normalize_name(value: str | None) -> str | None:
    """The canonical form of a person's or company's name (see the module doc), None when
    nothing alphanumeric remains: ``"Zoë  O'Brien"`` -> ``"zoe obrien"``."""
    if not value:
        return None
    return _normalize_name(value)


@lru_cache(maxsize=16_384)
def _normalize_name(value: str) -> str | None:
    if value.isascii():
        text = _ASCII_SEPARATORS.sub(" ", value.lower().translate(_ASCII_APOSTROPHES)).strip()
        return text or None
    # NFKD may produce upper case (U+210C -> H) and case folding may produce marks (U+0130), so the
    # steps repeat until nothing changes: the result is a fixed point, hence idempotent.
    text = value
    for _ in range(4):
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return text or None


def _fold_once(value: str) -> str:
    text = unicodedata.normalize("NFKD", value).casefold().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text)
    out: list[str] = []
    pending_space = False
    for ch in text:
        if ch.isascii():
            keep = ch.isalnum()
            if not keep and ch in _APOSTROPHES:
                continue
        else:
            category = unicodedata.category(ch)
            if category in ("Mn", "Me") or ch in _APOSTROPHES:
                continue  # accents and other non-spacing marks; apostrophes
            keep = category[0] in "LN" or category == "Mc"
        if keep:
            if pending_space and out:
                out.append(" ")
            pending_space = False
            out.append(ch)
        else:
            pending_space = True
    return "".join(out)


def person_key(first: str | None, last: str | None) -> str | None:
    """``normalize_name(first + " " + last)``: ``("Zoë ", "O'BRIEN")`` -> ``"zoe obrien"``.

    Joining before normalizing makes ``("John Smith", None)`` (a full name in one field) equal to
    ``("John", "Smith")``. None unless the key holds at least two words: a lone first or last name
    says too little about a person, even within one company.
    """
    key = normalize_name(f"{first or ''} {last or ''}")
    return key if key is not None and " " in key else None


#: legal-form words dropped from the end of a company name (after dots are removed, so
#: ``S.p.A.`` is ``spa``); multi-word forms are listed as several entries and peeled one by one
_LEGAL_FORMS = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "lllp",
        "pllc",
        "corp",
        "corporation",
        "co",
        "company",
        "cos",
        "ltd",
        "limited",
        "plc",
        "pty",
        "pvt",
        "pte",
        "private",
        "dac",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "haftungsbeschrankt",
        "ev",
        "kgaa",
        "se",
        "sa",
        "sas",
        "sasu",
        "sarl",
        "eurl",
        "sca",
        "scs",
        "snc",
        "bv",
        "nv",
        "vof",
        "ab",
        "oy",
        "oyj",
        "as",
        "asa",
        "aps",
        "sl",
        "slu",
        "sau",
        "srl",
        "spa",
        "sapa",
        "scarl",
        "ltda",
        "me",
        "eireli",
        "kk",
        "gk",
        "yk",
        "bhd",
        "sdn",
        "tbk",
        "pt",
        "cc",
    }
)
_CONNECTORS = frozenset({"and", "und", "et", "y"})
#: ``A/S``, ``c/o``: one abbreviation, not two words
_LETTER_SLASH_LETTER = re.compile(r"\b(\w)/(\w)\b")


def company_name_key(value: str | None) -> str | None:
    """A company name without its legal form: ``"Acme GmbH"``, ``"ACME, Inc."``, ``"Acme Pty
    Ltd"``, ``"The Acme Company"`` -> ``"acme"``; ``"Acme S.p.A."`` -> ``"acme"``.

    Dots (and the slash of ``A/S``) are removed before :func:`normalize_name` (``B.V.`` -> ``bv``),
    ``&`` is read as ``and``; a leading ``the`` is dropped, then trailing legal-form words and
    connectors, repeatedly (``GmbH & Co. KG``), but never the last word: ``"Limited"`` stays
    ``"limited"``. Use it only with
    another signal (same domain), as the spec's weaker duplicate signal does.
    """
    if not value:
        return None
    return _company_name_key(value)


@lru_cache(maxsize=16_384)
def _company_name_key(value: str) -> str | None:
    text = _LETTER_SLASH_LETTER.sub(r"\1\2", value.replace(".", "")).replace("&", " and ")
    name = normalize_name(text)
    if name is None:
        return None
    words = name.split(" ")
    while len(words) > 1 and words[0] == "the":
        del words[0]
    while len(words) > 1 and (words[-1] in _LEGAL_FORMS or words[-1] in _CONNECTORS):
        words.pop()
    return " ".join(words)
