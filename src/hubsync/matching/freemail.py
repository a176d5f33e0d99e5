"""Free and consumer mailbox domains: an address there says nothing about a person's company.

The weaker duplicate signal for contacts pairs the person's name with their company, and the
company may come from the e-mail domain; ``jane.doe@gmail.com`` and ``jane.doe@acme.com`` name
the same company only in the second case. :func:`is_freemail` tells the two apart.

The list holds registrable ("root") domains as :func:`hubsync.matching.domains.root_domain` returns
them, so ``mail.yahoo.co.uk`` is caught through ``yahoo.co.uk``. It covers the big webmail
providers with their main country domains and the large consumer ISPs' mailboxes; it is not a
disposable-address blocklist. A provider missing here only makes the weaker signal a little
noisier for its users (two people of the same name at that provider look like one company).
"""

from __future__ import annotations

from hubsync.matching.domains import root_domain

__all__ = ["FREEMAIL_DOMAINS", "is_freemail"]

FREEMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google, Microsoft, Yahoo, AOL, Apple
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "live.com",
        "live.co.uk",
        "live.fr",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "yahoo.ca",
        "yahoo.co.jp",
        "yahoo.co.in",
        "yahoo.com.au",
        "yahoo.com.br",
        "ymail.com",
        "rocketmail.com",
        "aol.com",
        "aim.com",
        "icloud.com",
        "me.com",
        "mac.com",
        # privacy-focused and independent providers
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "zoho.com",
        "zohomail.com",
        "hushmail.com",
        "mail.com",
        "email.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "yopmail.com",
        "mailinator.com",
        # Europe
        "web.de",
        "t-online.de",
        "freenet.de",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "btinternet.com",
        # Russia and Ukraine
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "rambler.ru",
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        "ukr.net",
        # Asia
        "qq.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sohu.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "rediffmail.com",
        # Americas and Oceania: consumer ISP mailboxes
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "bigpond.com",
        "optusnet.com.au",
    }
)


def is_freemail(domain_root: str | None) -> bool:
    """Whether ``domain_root`` is a free or consumer mailbox provider's domain.

    Compared on the root domain: a root domain is looked up as is, anything else (a subdomain, an
    e-mail address, a URL) goes through :func:`root_domain` first, so ``mail.Yahoo.co.uk`` counts.
    None and unusable values are not freemail.
    """
    if not domain_root:
        return False
    if domain_root in FREEMAIL_DOMAINS:
        return True
    return root_domain(domain_root) in FREEMAIL_DOMAINS
