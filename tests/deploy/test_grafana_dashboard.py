"""deploy/grafana/hubsync.json: a real Prometheus (Debian's ``prometheus``) scrapes a running
``hubsync run`` under a small load, and every panel's query, evaluated through Prometheus' HTTP
API, must return series, so a renamed metric or label cannot make a panel silently empty."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from bench._change_events import contact_snapshot_events
from psycopg.types.json import Jsonb

from hubsync._runtime.processes import free_port
from hubsync.platform import create_record
from hubsync.testing import wait_for
from tests.connectors.hubspot.client_support import TOKEN
from tests.ingest.worker_harness import change_event_codec, produce
from tests.test_runner import RunProcess, run_args, sandbox_for_run

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "hubsync.json"


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


def test_the_dashboard_is_well_formed() -> None:
    document = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids)) >= 12
    assert {"datasource"} <= {v["name"] for v in document["templating"]["list"]}
    for panel in document["panels"]:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"


@pytest.fixture
def live_hubsync(kafka_bootstrap_servers: str, fresh_database_url: str) -> Iterator[tuple[RunProcess, str]]:
    """``hubsync run`` (every component, one /metrics) against the sandbox, and a small load that
    goes through every part the panels show: HubSpot-side creations (webhooks, polls), change events
    with planted duplicates and one undecodable message (DLQ), platform records pushed (one that
    HubSpot refuses, and 429s from the sandbox)."""
    with sandbox_for_run(kafka_bootstrap_servers, fresh_database_url, partitions=2) as (sandbox, setup, port):
        process = RunProcess(setup.env, name="run", args=run_args(port))
        try:
            process.start()
            process.wait_until(
                lambda: "webhook receiver on http://" in process.output(), "the receiver", timeout=90
            )
            api = httpx.Client(
                base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            )
            with psycopg.connect(setup.database_url, autocommit=True) as conn:
                for i in range(5):  # the prospect database knows their job titles: autofill
                    conn.execute(
                        "INSERT INTO hubsync.prospect_people (email_normalized, first_name, attributes)"
                        " VALUES (%s, 'Prospect', %s)",
                        (f"dash-{i}@acme.com", Jsonb({"jobtitle": "CTO"})),
                    )
            for i in range(5):
                api.post("/crm/v3/objects/contacts", json={"properties": {"email": f"dash-{i}@acme.com"}})
            codec, schema = change_event_codec()
            events = contact_snapshot_events(60, seed=11, duplicate_ratio=0.2, start_id=900_000)
            produce(
                setup.bootstrap,
                setup.topics.hubspot_contacts,
                [
                    *((k, codec.encode("contacts", schema, v), None) for k, v in events),
                    (b"bad", b"not avro", None),
                ],
            )
            # a burst limit the pushes and polls exceed: real 429s with HubSpot's headers
            api.put("/_sandbox/rate-limits", json={"burst_limit": 3, "burst_window_s": 5})
            with psycopg.connect(setup.database_url, autocommit=True) as conn:
                for i in range(3):
                    create_record(conn, "contact", {"email": f"pushed-{i}@globex.com"}, manual=True)
                create_record(conn, "contact", {"email": "not-an-email"}, manual=True)
            yield process, process.metrics_url()
        finally:
            process.close()


@pytest.fixture
def prometheus(tmp_path: Path, live_hubsync: tuple[RunProcess, str]) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is needed: apt-get install prometheus (.ci/run installs it)"
    target = urlsplit(live_hubsync[1]).netloc
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hubsync-test\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
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


@pytest.mark.integration
def test_every_panel_query_returns_series_in_a_real_prometheus(prometheus: str) -> None:
    def empty() -> list[str]:
        missing = []
        for title, promql in _queries():
            try:
                response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
            except httpx.HTTPError:
                return ["prometheus not answering yet"]
            if response.status_code == 503:  # "Service Unavailable" in plain text while it starts
                return ["prometheus not ready yet"]
            answer = response.json()
            assert answer["status"] == "success", f"{title}: {promql}: {answer}"
            if not answer["data"]["result"]:
                missing.append(f"{title}: {promql}")
        return missing

    wait_for(
        lambda: not empty(),
        timeout=90,
        interval=1.0,
        what=lambda: f"series for every panel; empty: {empty()}",
    )
