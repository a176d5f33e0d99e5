"""The console benchmark's short version: it seeds, signs in, requests every page and checks each
answer (the full run, 100,000 records, is ``python -m bench.console``; docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import console as bench_console

pytestmark = pytest.mark.integration


def test_the_bench_checks_every_page_it_times(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "console.json"
    code = bench_console.main(
        ["--records", "2000", "--accounts", "20", "--errors", "300", "--requests", "2", "--json", str(out)]
    )
    results = json.loads(out.read_text())
    assert code == 0, results
    pages = {row["metric"] for row in results["results"]}
    assert {"overview", "error log (unresolved)", "record search: e-mail", "record and lineage"} <= pages
    assert results["duplicate_pairs"] > 0
