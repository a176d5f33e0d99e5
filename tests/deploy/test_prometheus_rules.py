"""The Prometheus rules in deploy/prometheus speak of metrics hubsync really exports, and every alert
carries what an on-call engineer needs (``promtool check/test rules`` run in CI, in .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from hubsync.ingest.metrics import ingest_metrics
from hubsync.metrics import ConnectorMetrics, HubSpotClientMetrics, dlq_metrics
from hubsync.push.errors import push_error_metrics
from hubsync.push.metrics import push_metrics
from hubsync.push.relay import relay_metrics
from hubsync.runner import restart_counter

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "hubsync-rules.yml"
RUNBOOKS = ROOT / "docs" / "deploy.md"


def _exported() -> set[str]:
    """Every sample name hubsync's metric sets expose (``_total``, ``_bucket`` ... included)."""
    registry = CollectorRegistry()
    HubSpotClientMetrics.create(registry)
    ConnectorMetrics.create(registry)
    ingest_metrics(registry)
    push_metrics(registry)
    relay_metrics(registry)
    dlq_metrics(registry)
    push_error_metrics(registry)
    restart_counter(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(
            f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count", "_created")
        )
    return names


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_metric_in_the_rules_is_exported() -> None:
    exported = _exported()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    used = {name for rule in _rules() for name in re.findall(r"\bhubsync_[a-z_]+\b", rule["expr"])}
    assert used, "the rules use no hubsync metric"
    assert used <= exported, f"not exported by hubsync: {sorted(used - exported)}"
    for rule in _rules():
        for name in re.findall(r"\bhubsync:[a-z_:0-9]+\b", rule["expr"]):
            assert name in recorded, f"{rule.get('alert', rule.get('record'))} uses {name}, recorded nowhere"


def test_every_alert_has_a_duration_severity_summary_and_a_runbook() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("#")
    }
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert len(alerts) >= 9
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}, name
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], name
        runbook = alert["annotations"]["runbook_url"]
        assert runbook == f"docs/deploy.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/deploy.md has no runbook section {name}"
        if name != "HubsyncDeadLetters":  # a dead letter needs a look at once
            assert "for" in alert, f"{name} has no for: clause"
