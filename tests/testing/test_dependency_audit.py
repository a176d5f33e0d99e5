"""The CI dependency audit: a vulnerable installed release fails it, a held-back one is reported as not
audited, a withdrawn advisory is ignored, and an unreachable index audits nothing (exit 2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hubsync.testing import dependency_audit
from hubsync.testing.dependency_audit import audit

PAGES: dict[str, dict[str, Any]] = {
    "safe": {"info": {"version": "2.0"}, "vulnerabilities": []},
    "vulnerable": {
        "info": {"version": "1.4"},
        "vulnerabilities": [
            {"id": "PYSEC-2099-1", "fixed_in": ["1.5"], "withdrawn": None},
            {"id": "PYSEC-2099-2", "fixed_in": [], "withdrawn": "2099-01-01T00:00:00"},
        ],
    },
    "held-back": {"info": {"version": "3.0"}, "vulnerabilities": []},
}


def index(request: httpx.Request) -> httpx.Response:
    name = request.url.path.split("/")[-2]
    return httpx.Response(200, json=PAGES[name]) if name in PAGES else httpx.Response(404)


def client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(index))


def test_vulnerable_held_back_and_unknown_distributions_are_told_apart() -> None:
    report = audit({"safe": "2.0", "vulnerable": "1.4", "held-back": "2.9", "gone": "1.0"}, client())
    assert report.vulnerable == [("vulnerable", "1.4", "PYSEC-2099-1", "1.5")]
    assert sorted(report.audited) == ["safe", "vulnerable"]
    assert report.not_audited == [
        ("gone", "1.0", "index answered 404"),
        ("held-back", "2.9", "latest is 3.0"),
    ]


@pytest.mark.parametrize(
    ("packages", "code"),
    [({"safe": "2.0"}, 0), ({"safe": "2.0", "vulnerable": "1.4"}, 1), ({"gone": "1"}, 2)],
)
def test_the_exit_code_says_what_was_found(
    packages: dict[str, str], code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dependency_audit, "installed", lambda: packages)
    assert dependency_audit.main([], transport=httpx.MockTransport(index)) == code
