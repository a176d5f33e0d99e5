"""Duplicate detection and prospect matching (SPEC section 1, "Duplicates").

The keys (this package's top level, and :mod:`~hubsync.matching.record_keys` for a whole
record) are pure; :mod:`~hubsync.matching.duplicates` flags potential duplicates in PostgreSQL
(never merging) and :mod:`~hubsync.matching.prospects` marks the prospect database's matches.
Ingest and platform-side writes both call them.

Every key function here is total (returns ``None`` or an empty set for input it cannot use, never
raises), idempotent on its own output, cheap enough for the ingest path, and does no I/O apart
from reading the public suffix list bundled with the ``publicsuffixlist`` package once.

* contacts: :func:`email_keys` (primary e-mail plus ``hs_additional_emails``, via
  :func:`normalize_email`); weaker signal :func:`person_key` + the company's :func:`root_domain`;
* companies: :func:`root_domain`; weaker signal :func:`company_name_key`;
* :func:`is_freemail`: a free mailbox provider's domain names no company.
"""

from hubsync.matching.domains import root_domain
from hubsync.matching.freemail import is_freemail
from hubsync.matching.keys import (
    company_name_key,
    email_keys,
    normalize_email,
    normalize_name,
    person_key,
)

__all__ = [
    "company_name_key",
    "email_keys",
    "is_freemail",
    "normalize_email",
    "normalize_name",
    "person_key",
    "root_domain",
]
