"""The overview's live data: each configured component's ``/readyz`` and ``/metrics``, and charts
from a Prometheus server scraping them. Every source is optional and answers within a second or
is shown as unreachable: the page never waits on a component that is down."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hubsync.console.charts import Series, summed
from hubsync.console.config import Component, ConsoleConfig

#: seconds each component or Prometheus has to answer
PROBE_TIMEOUT_S = 1.0
#: the charts' window and step, seconds
CHART_WINDOW_S = 3600
CHART_STEP_S = 15

#: chart title, unit, PromQL
CHARTS: tuple[tuple[str, str, str], ...] = (
    ("Events applied", "events/s", 'sum(rate(hubsync_ingest_events_total{outcome="applied"}[2m]))'),
    ("Records pushed", "records/s", 'sum(rate(hubsync_push_records_total{outcome=~"created|updated"}[2m]))'),
    ("Push errors", "errors/s", "sum(rate(hubsync_push_errors_total[2m]))"),
    ("Consumer lag", "messages", "sum(hubsync_consumer_lag_messages)"),
)


@dataclass(frozen=True, slots=True)
class ComponentState:
    name: str
    reachable: bool
    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LiveState:
    components: tuple[ComponentState, ...]
    #: HubSpot's daily requests left (the lowest any component saw), None when unknown
    daily_quota_left: float | None
    daily_quota: float | None
    consumer_lag: dict[str, float]
    push_records: dict[str, float]
    charts: tuple[Series, ...]
    prometheus_error: str | None


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _checks(body: object) -> dict[str, dict[str, Any]]:
    """A component's ``/readyz`` checks, as :mod:`hubsync.health` writes them; anything else: none."""
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict):
        return {}
    return {
        str(name): {"ok": bool(check.get("ok")), "detail": str(check.get("detail") or "")}
        for name, check in checks.items()
        if isinstance(check, dict)
    }


async def _fetch(client: httpx.AsyncClient, component: Component) -> tuple[ComponentState, list[Any]]:
    ready, metrics = await asyncio.gather(
        client.get(f"{component.base_url}/readyz"), client.get(f"{component.base_url}/metrics")
    )
    body = ready.json() if ready.headers.get("content-type", "").startswith("application/json") else {}
    state = ComponentState(component.name, True, ready.status_code == 200, _checks(body))
    return state, _samples(metrics.text) if metrics.status_code == 200 else []


async def _probe(client: httpx.AsyncClient, component: Component) -> tuple[ComponentState, list[Any]]:
    """The component's state and samples within :data:`PROBE_TIMEOUT_S` in all (an answer trickling
    in counts as no answer), or unreachable."""
    try:
        return await asyncio.wait_for(_fetch(client, component), PROBE_TIMEOUT_S)
    except (httpx.HTTPError, ValueError, TypeError, TimeoutError) as exc:
        return ComponentState(component.name, False, False, detail=type(exc).__name__), []


async def _range(
    client: httpx.AsyncClient, base: str, query: str, now: float
) -> list[list[tuple[float, float]]]:
    answer = await client.get(
        f"{base}/api/v1/query_range",
        params={"query": query, "start": now - CHART_WINDOW_S, "end": now, "step": CHART_STEP_S},
    )
    answer.raise_for_status()
    data = answer.json()
    if data.get("status") != "success":
        raise ValueError(str(data.get("error", "query failed")))
    out = []
    for result in data["data"]["result"]:
        points = [(float(t), float(v)) for t, v in result["values"]]
        out.append([(t, v) for t, v in points if math.isfinite(v)])
    return out


async def live_state(config: ConsoleConfig, client: httpx.AsyncClient) -> LiveState:
    probes = await asyncio.gather(*(_probe(client, c) for c in config.components))
    states = tuple(state for state, _ in probes)
    samples = [s for _, found in probes for s in found]
    daily = [
        v
        for n, labels, v in samples
        if n == "hubsync_hubspot_ratelimit_remaining" and labels.get("window") == "daily"
    ]
    daily_max = [
        v
        for n, labels, v in samples
        if n == "hubsync_hubspot_ratelimit_limit" and labels.get("window") == "daily"
    ]
    lag: dict[str, float] = {}
    pushed: dict[str, float] = {}
    for name, labels, value in samples:
        if name == "hubsync_consumer_lag_messages":
            lag[labels.get("topic", "?")] = lag.get(labels.get("topic", "?"), 0.0) + value
        elif name == "hubsync_push_records_total":
            pushed[labels.get("outcome", "?")] = pushed.get(labels.get("outcome", "?"), 0.0) + value
    charts: list[Series] = []
    error = None
    if config.prometheus_url:
        now = time.time()
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(_range(client, config.prometheus_url, q, now) for _, _, q in CHARTS)),
                PROBE_TIMEOUT_S,
            )
            charts = [
                Series(title, unit, summed(r)) for (title, unit, _), r in zip(CHARTS, results, strict=True)
            ]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, TimeoutError) as exc:
            error = f"Prometheus did not answer ({type(exc).__name__})"
    return LiveState(
        states,
        min(daily) if daily else None,
        max(daily_max) if daily_max else None,
        lag,
        pushed,
        tuple(charts),
        error,
    )
