"""A dependency audit for CI: every installed distribution checked against PyPI's vulnerability data.

``python -m hubsync.testing.dependency_audit`` exits 1 when an installed release has a known,
unwithdrawn vulnerability, 2 when nothing could be audited, 0 otherwise, and prints what it
could not audit.

Why not ``pip-audit``: it reads PyPI's per-release JSON (``/pypi/<name>/<version>/json``) or the
OSV API, and the networks this project builds on reach only the package index's project pages
(``/pypi/<name>/json``). That page carries the vulnerabilities of the project's *latest* release,
so a distribution installed at its latest release is audited exactly; one held back (by another
package's pin) is reported as not audited, with the release it is held at. Where ``pip-audit``
can reach its services, run it too (docs/reliability.md#dependency-audit).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import httpx

INDEX_URL = "https://pypi.org/pypi"


def canonicalize_name(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class AuditReport:
    #: (name, version, vulnerability id, fixed in) of every known vulnerability found
    vulnerable: list[tuple[str, str, str, str]] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    #: (name, installed, latest or why) of what could not be audited
    not_audited: list[tuple[str, str, str]] = field(default_factory=list)


def installed(skip: Iterable[str] = ("hubsync", "hubsync-avro-native")) -> dict[str, str]:
    """Installed distributions (canonical name -> version), without ``skip`` (by default hubsync's own
    two, which are not on the index)."""
    skipped = {canonicalize_name(s) for s in skip}
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name not in skipped:
            out[name] = dist.version
    return out


def audit(packages: dict[str, str], client: httpx.Client, index_url: str = INDEX_URL) -> AuditReport:
    report = AuditReport()
    for name, version in sorted(packages.items()):
        try:
            answer = client.get(f"{index_url}/{name}/json")
        except httpx.HTTPError as exc:
            report.not_audited.append((name, version, f"index unreachable: {type(exc).__name__}"))
            continue
        if answer.status_code != 200:
            report.not_audited.append((name, version, f"index answered {answer.status_code}"))
            continue
        body: dict[str, Any] = answer.json()
        latest = str(body.get("info", {}).get("version", ""))
        if latest != version:
            report.not_audited.append((name, version, f"latest is {latest}"))
            continue
        report.audited.append(name)
        for vuln in body.get("vulnerabilities") or []:
            if vuln.get("withdrawn"):
                continue
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fix yet"
            report.vulnerable.append((name, version, str(vuln.get("id")), fixed))
    return report


def main(argv: list[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index-url", default=INDEX_URL)
    args = parser.parse_args(argv)
    with httpx.Client(timeout=30, follow_redirects=True, transport=transport) as client:
        report = audit(installed(), client, args.index_url)
    for name, version, vuln_id, fixed in report.vulnerable:
        print(f"VULNERABLE {name} {version}: {vuln_id} (fixed in {fixed})")
    for name, version, why in report.not_audited:
        print(f"not audited: {name} {version} ({why})")
    print(
        f"{len(report.audited)} distribution(s) audited, {len(report.not_audited)} not audited, "
        f"{len(report.vulnerable)} known vulnerabilit(y/ies)"
    )
    if report.vulnerable:
        return 1
    return 0 if report.audited else 2


if __name__ == "__main__":
    sys.exit(main())
