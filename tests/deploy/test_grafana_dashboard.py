"""deploy/grafana/hubsync.json: every panel's query is evaluated by a real Prometheus (Debian's
``prometheus``) scraping hubsync's own metric sets, and must return series, so a renamed metric or
label cannot make a panel silently empty."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hubsync._runtime.processes import free_port
from hubsync.health import serve_health
from hubsync.ingest.metrics import ingest_metrics
from hubsync.metrics import ConnectorMetrics, HubSpotClientMetrics, dlq_metrics
from hubsync.push.errors import push_error_metrics
from hubsync.push.metrics import push_metrics
from hubsync.push.relay import relay_metrics
from hubsync.runner import restart_counter
from hubsync.testing import wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "hubsync.json"
#: label values the panels select on; any other label gets "x"
LABEL_VALUES = {"window": "daily"}


def _panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def _queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's interval variables filled in)."""
    return [
        (p["title"], t["expr"].replace("$__rate_interval", "30s").replace("$__range", "1m"))
        for p in _panels()
        for t in p["targets"]
    ]


def _exercised_registry() -> CollectorRegistry:
    """hubsync's metric sets, each metric with one child recorded (as a running hubsync has them)."""
    registry = CollectorRegistry()
    for make in (
        HubSpotClientMetrics.create,
        ConnectorMetrics.create,
        ingest_metrics,
        push_metrics,
        relay_metrics,
        dlq_metrics,
        push_error_metrics,
        restart_counter,
    ):
        make(registry)
    for collector in list(registry._collector_to_names):
        names: tuple[str, ...] = getattr(collector, "_labelnames", ())
        metric: Any = collector.labels(*(LABEL_VALUES.get(n, "x") for n in names)) if names else collector
        if isinstance(collector, Counter):
            metric.inc(5)
        elif isinstance(collector, Gauge):
            metric.set(3)
        elif isinstance(collector, Histogram):
            metric.observe(0.2)
    return registry


def test_the_dashboard_is_well_formed() -> None:
    document = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids)) >= 12
    assert {"datasource"} <= {v["name"] for v in document["templating"]["list"]}
    for panel in document["panels"]:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is needed: apt-get install prometheus (.ci/run installs it)"
    metrics = serve_health("127.0.0.1", 0, None, _exercised_registry())
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hubsync-test\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics.port}']}}]\n"
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        metrics.close()


@pytest.mark.integration
def test_every_panel_query_returns_series_in_a_real_prometheus(prometheus: str) -> None:
    def empty() -> list[str]:
        missing = []
        for title, query in _queries():
            try:
                answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10).json()
            except httpx.HTTPError:
                return ["prometheus not answering yet"]
            assert answer["status"] == "success", f"{title}: {query}: {answer}"
            if not answer["data"]["result"]:
                missing.append(f"{title}: {query}")
        return missing

    wait_for(
        lambda: not empty(),
        timeout=90,
        interval=1.0,
        what=lambda: f"series for every panel; empty: {empty()}",
    )
