"""Host canonicalisation and registrable ("root") domains per the Public Suffix List.

Decisions:

* **Offline PSL.** The list is the copy bundled with the ``publicsuffixlist`` package (upgrade the
  package to refresh it); it is parsed once per process, on first use (about 40 ms).
* **Private rules apply.** ``acme.github.io`` and ``other.github.io`` are different companies, so
  the PSL's PRIVATE section counts as well as the ICANN one (``x.acme.herokuapp.com`` ->
  ``acme.herokuapp.com``). A host that *is* a private suffix (``github.io``, ``blogspot.com``) is
  still the registrable domain of the company operating it under the ICANN rules, so it falls back
  to those (``github.io`` -> ``github.io``) instead of losing its key. ICANN public suffixes
  themselves (``co.uk``, ``com``) have no root domain.
* **Unknown TLDs** follow the PSL algorithm's default rule ``*`` (``acme.newtld`` ->
  ``acme.newtld``), so a stale bundled list never drops a new TLD's companies. Reserved special-use
  names (RFC 6761/6762/9476 and ICANN's ``.internal``: ``localhost``, ``local``, ``test``, ...) and
  single-label hosts have none.
* **IDN**: hosts are lower-cased and converted to punycode with Python's ``idna`` codec (IDNA 2003
  nameprep: ``Müller.de`` and ``xn--mller-kva.de`` give the same key; ``ß`` folds to ``ss``).
* IP addresses (v4, v6, bracketed) have no root domain: they say nothing about a company.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList

__all__ = ["canonical_host", "load_suffix_lists", "root_domain"]

#: an ASCII host of LDH labels (underscore tolerated: it occurs in real DNS names), two or more
_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_HOST_END = re.compile(r"[/?#\\]")
#: whitespace and control characters: never part of a host or an e-mail address
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")

#: special-use TLDs that name no organisation on the internet
_RESERVED_TLDS = frozenset({"localhost", "local", "test", "invalid", "example", "internal", "localdomain"})


@cache
def _psl() -> PublicSuffixList:
    """The bundled list, PRIVATE rules included; parsed once."""
    return PublicSuffixList(accept_unknown=True, only_icann=False)


@cache
def _psl_icann() -> PublicSuffixList:
    """The bundled list, ICANN rules only: the fallback for hosts that are private suffixes."""
    return PublicSuffixList(accept_unknown=True, only_icann=True)


def load_suffix_lists() -> None:
    """Parse both lists now (~70 ms), not in the first batch that names a company domain: a worker
    calls this while it starts, so its first batch's latency does not carry the parsing."""
    _psl()
    _psl_icann()


def canonical_host(host: str) -> str | None:
    """``host`` lower-cased, without one trailing dot, in punycode; None unless it is a plausible
    DNS name of two or more labels (no IP literal, no whitespace, labels of at most 63 characters).

    No PSL look-up: e-mail domains use this as is (``mail.acme.com`` stays ``mail.acme.com``).
    """
    if host.endswith("."):
        host = host[:-1]
    host = host.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or _HOST.fullmatch(host) is None:
        return None
    return host


def root_domain(value: str | None) -> str | None:
    """The registrable domain (public suffix plus one label) named by ``value``, or None.

    ``value`` may be a bare host (``Acme.co.uk``), a host with ``www.`` or any subdomain, a URL
    (``https://www.Acme.co.uk:8443/about?x``, with or without scheme), or an e-mail address
    (``x@mail.acme.com`` -> ``acme.com``); surrounding whitespace, a port, a trailing dot and
    upper case are ignored, IDNs come back in punycode. None for None/empty/invalid input, IP
    addresses, ``localhost`` and other reserved names, and public suffixes themselves (``co.uk``).

    Results are memoised (domains repeat a lot in a CRM: freemail hosts, popular companies).
    """
    if not value:
        return None
    return _root_domain(value)


@lru_cache(maxsize=65_536)
def _root_domain(value: str) -> str | None:
    host = _host_of(value.strip())
    if host is None:
        return None
    host = canonical_host(host)
    if host is None:
        return None
    tld = host.rpartition(".")[2]
    if tld.isdigit() or tld in _RESERVED_TLDS or host.endswith(".home.arpa"):
        return None  # an IPv4 address (no TLD is numeric) or a reserved name
    root = _psl().privatesuffix(host)
    if root is None and _psl().is_public(host):
        root = _psl_icann().privatesuffix(host)  # the host is a private suffix itself
    return root


def _host_of(text: str) -> str | None:
    """The host part of a URL, e-mail address or host[:port]; None for IPv6 or invalid input."""
    if not text or _BAD_CHARS.search(text):
        return None
    scheme = _SCHEME.match(text)
    if scheme is not None:
        text = text[scheme.end() :]
    elif text.startswith("//"):
        text = text[2:]
    elif text[:7].lower() == "mailto:":
        text = text[7:]
    end = _HOST_END.search(text)
    if end is not None:
        text = text[: end.start()]
    text = text.rpartition("@")[2]  # an e-mail address, or a URL's user info
    if text.startswith("["):
        return None  # an IPv6 literal
    host, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None  # a bare IPv6 address, or a malformed port
    return host or None
