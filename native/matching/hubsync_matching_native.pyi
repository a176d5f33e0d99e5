"""Type stubs of the compiled module (native/matching/src/lib.rs)."""

from collections.abc import Callable
from typing import Any

class ContactKeyMaker:
    """``hubsync.matching.record_keys``' contact keys for ASCII values: ``keys_type`` is called with
    (emails frozenset, primary e-mail, name key, company name key, company domain root) and
    ``company_domain`` with an e-mail address's canonical host (its results are remembered, up to
    65,536 hosts)."""

    def __init__(self, keys_type: Callable[..., Any], company_domain: Callable[[str], str | None]) -> None: ...
    def __call__(self, email: Any, additional: Any, first: Any, last: Any, company: Any) -> Any:
        """The keys, or None when a value is neither None nor an ASCII ``str`` (the caller then
        computes them in Python)."""
