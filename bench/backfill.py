"""Backfill pull throughput as a share of the rate-limit ceiling, and the worker's memory.

    python -m bench.backfill [--contacts 1000000] [--burst-limit 700] [--quick]

``hubsync sandbox`` runs in its own process, seeded with ``--contacts`` contacts (and a tenth as
many companies, with associations); its burst limit is scaled up from HubSpot's 190 per 10 s so
a million contacts take minutes instead of ~9 (at 190/10 s). A second child process, the
worker, runs :class:`~hubsync.connectors.hubspot.sources.backfill.Backfill` through the rate-limited
:class:`~hubsync.connectors.hubspot.http.client.HubSpotClient` (from its default 190/10 s estimate:
the rate-limit headers must raise it) against real Apache Kafka and PostgreSQL, and reports its
own peak RSS.

``--quick``: 40,000 contacts at HubSpot's own 190 per 10 s (~25 s).

Ceiling = burst limit / window x 100 records per list page. Targets (SPEC section 6): records/s
>= 90% of it, checked as (the least time the rolling window allows for the requests made) /
(the backfill's duration): for long runs that is records/s / ceiling, for short ones it does not
count the first window's budget (spendable at once) as throughput; worker peak RSS < 500 MB.
Also reported: records per window, the 429s the client saw
(``HubSpotClientMetrics`` on a fresh registry; the sandbox's request log keeps only 10,000
entries) and whether Kafka holds every published event.

Kafka and PostgreSQL: ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set (a fresh database
is created and dropped afterwards), else test servers are started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench._report import report, summarize
from bench._services import (
    count_requests,
    cpu_seconds,
    fresh_topics,
    kafka_and_postgres,
    messages_in,
    peak_rss_mb,
    start_sandbox,
    stop,
)
from hubsync.settings import TopicNames

RATIO_TARGET = 0.90
RSS_TARGET_MB = 500.0
RECORDS_PER_PAGE = 100
TOKEN = "pat-bench"
DEFAULT_CONTACTS = 1_000_000
#: 3.7x HubSpot's 190: 1,000,000 contacts in ~2.5 min. The worker's own ceiling on this 2-core
#: machine (sandbox, Kafka and PostgreSQL sharing it) was ~7,800-9,500 records/s, so a limit
#: of 1,900 (19,000 records/s) measures the worker, not its pacing.
DEFAULT_BURST_LIMIT = 700
#: --unlimited: a burst limit no client reaches
UNLIMITED = 10_000_000


# ---- services (also used by bench.search_pull and bench.webhook_ack) ------------------------


async def _backfill(job: dict[str, Any]) -> dict[str, Any]:
    from hubsync.avro import SchemaRepository, SingleObjectCodec
    from hubsync.connectors.hubspot.http.client import HubSpotClient
    from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
    from hubsync.connectors.hubspot.sources.backfill import Backfill
    from hubsync.connectors.hubspot.sources.cursors import CursorStore
    from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
    from hubsync.connectors.hubspot.sources.record_events import mapped_properties
    from hubsync.metrics import HubSpotClientMetrics
    from hubsync.storage.pool import PoolConfig, open_async_pool
    from hubsync.streams.producer import AsyncKafkaPublisher

    registry = CollectorRegistry()
    config = HubSpotClientConfig(access_token=SecretStr(TOKEN), base_url=job["base_url"])
    pool = await open_async_pool(job["database_url"], PoolConfig(max_size=2), name="bench-backfill")
    kafka = AsyncKafkaPublisher(job["bootstrap"], SingleObjectCodec(SchemaRepository()))
    marks: list[tuple[float, int]] = []
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        marks.append((time.perf_counter(), done))

    try:
        await kafka.start()
        topics = TopicNames(**job["topics"])
        async with HubSpotClient(config, metrics=HubSpotClientMetrics.create(registry)) as client:
            backfill = Backfill(
                client,
                ChangeEventPublisher(kafka, topics, source="BACKFILL"),
                CursorStore(pool),
                await mapped_properties(pool),
                progress=progress,
            )
            cpu_before = time.process_time()
            started = time.perf_counter()
            result = await backfill.run("contacts", restart=True)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
    finally:
        await kafka.close()
        await pool.close()
    return {
        "records": result.records,
        "published": result.published,
        "pages": result.pages,
        "seconds": elapsed,
        "worker_cpu_seconds": cpu,
        "marks": [(t - started, n) for t, n in marks],
        "requests_by_status": count_requests(registry),
        "properties": list(backfill.properties["contacts"]),
        "peak_rss_mb": peak_rss_mb(),
    }


async def _raw_pages(job: dict[str, Any], properties: list[str]) -> dict[str, float]:
    """The sandbox's own page-serving rate: the same list pages (properties, associations) read by
    a client that does nothing else (httpx, one page after another as the cursor chains them, no
    model, no Kafka, no cursor saves)."""
    import httpx

    params: dict[str, Any] = {"limit": 100, "properties": ",".join(properties), "associations": "companies"}
    records = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=job["base_url"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        after: str | None = None
        while True:
            response = await client.get(
                "/crm/v3/objects/contacts", params={**params, **({"after": after} if after else {})}
            )
            response.raise_for_status()
            page = response.json()
            records += len(page["results"])
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after:
                break
    return {"raw_records": records, "raw_seconds": time.perf_counter() - started}


def _worker_main(job_json: str) -> None:
    job = json.loads(job_json)
    if job.get("cpus"):
        os.sched_setaffinity(0, set(job["cpus"]))
    result = asyncio.run(_backfill(job))
    if job.get("raw_pages"):
        result.update(asyncio.run(_raw_pages(job, result["properties"])))
    print(json.dumps(result))


# ---- the benchmark ---------------------------------------------------------------------------


def fastest_schedule_s(pages: int, burst_limit: int, window_s: float) -> float:
    """The least time a client obeying a rolling window of ``burst_limit`` per ``window_s`` needs
    for ``pages`` requests: batch k of ``burst_limit`` can start at k windows (requests taking no
    time). Tends to ``pages / limit * window`` for long runs, but is exact for short ones, where
    the first window's budget (spendable at once) would flatter a plain records/s ratio."""
    return ((pages - 1) // burst_limit) * window_s


def per_window(marks: list[tuple[float, int]], window_s: float) -> list[int]:
    """Records read in each consecutive window of the run."""
    counts: list[int] = []
    previous = 0
    for t, n in marks:
        k = int(t // window_s)
        while len(counts) <= k:
            counts.append(0)
        counts[k] += n - previous
        previous = n
    return counts


def run(contacts: int, burst_limit: int, pin: bool, raw_pages: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    sandbox, base_url = start_sandbox(
        ["--seed", str(contacts), "--burst-limit", str(burst_limit)], cpus={0} if pin else None
    )
    seed_seconds = time.perf_counter() - started
    try:
        with kafka_and_postgres() as (bootstrap, database_url):
            settings = fresh_topics(bootstrap, "backfill")
            job = {
                "base_url": base_url,
                "bootstrap": bootstrap,
                "database_url": database_url,
                "topics": settings.topics.model_dump(),
                "cpus": [1] if pin else None,
                "raw_pages": raw_pages,
            }
            sandbox_cpu_before = cpu_seconds(sandbox.pid)
            out = subprocess.run(
                [sys.executable, "-m", "bench.backfill", "--worker", json.dumps(job)],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise RuntimeError(f"the backfill worker failed:\n{out.stderr[-4000:]}")
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            result["sandbox_core_busy"] = (cpu_seconds(sandbox.pid) - sandbox_cpu_before) / result["seconds"]
            result["in_kafka"] = messages_in(
                bootstrap, settings.topics.hubspot_contacts_backfill
            )  # full reads: backfill lane
    finally:
        stop(sandbox)
    result["seed_seconds"] = seed_seconds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=DEFAULT_CONTACTS)
    parser.add_argument(
        "--burst-limit",
        type=int,
        default=DEFAULT_BURST_LIMIT,
        help="sandbox requests per 10 s window (HubSpot: 190)",
    )
    parser.add_argument("--pin", action="store_true", help="sandbox on CPU 0, worker on CPU 1")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 40,000 contacts at HubSpot's 190/10 s (~25 s)"
    )
    parser.add_argument(
        "--unlimited",
        action="store_true",
        help="no rate limit (22,000 contacts unless --contacts): the pull against the sandbox's own "
        "page-serving rate, read by a bare client in the same run",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args.worker)
        return
    if args.quick:
        args.contacts, args.burst_limit = min(args.contacts, 40_000), 190
    window_s = 10.0  # `hubsync sandbox` keeps HubSpot's 10 s window

    if args.unlimited:
        args.burst_limit = UNLIMITED
        if args.contacts == DEFAULT_CONTACTS:
            args.contacts = 22_000
    r = run(args.contacts, args.burst_limit, args.pin, raw_pages=args.unlimited)
    ceiling = args.burst_limit / window_s * RECORDS_PER_PAGE
    rate = r["records"] / r["seconds"]
    fastest = fastest_schedule_s(r["pages"], args.burst_limit, window_s)
    # share of the fastest schedule the rate limit allows; None when it fits in one window
    schedule_ratio = fastest / r["seconds"] if fastest > 0 else None
    statuses: dict[str, int] = r["requests_by_status"]
    total_requests = sum(statuses.values())
    rejected = statuses.get("429", 0)
    complete = r["in_kafka"] == r["published"] and r["records"] >= args.contacts * 0.9

    def row(metric: str, value: float, unit: str = "", target: str = "-", ok: bool | None = None) -> Any:
        return {"metric": metric, "unit": unit, **summarize([value]), "target": target, "ok": ok}

    rows: list[dict[str, Any]] = [
        row("records read, all events in Kafka", r["records"], "", ok=complete),
        row(f"ceiling ({args.burst_limit}/{window_s:.0f} s x 100)", ceiling, "rec/s"),
        row("backfill throughput", rate, "rec/s"),
        row("throughput / ceiling", rate / ceiling, ""),
        row(
            "fastest allowed schedule / duration",
            schedule_ratio if schedule_ratio is not None else float("nan"),
            "",
            f">= {RATIO_TARGET:.2f}",
            None if schedule_ratio is None else schedule_ratio >= RATIO_TARGET,
        ),
        row(
            "worker peak RSS",
            r["peak_rss_mb"],
            "MB",
            f"< {RSS_TARGET_MB:.0f} MB",
            r["peak_rss_mb"] < RSS_TARGET_MB,
        ),
        row("requests answered 429", rejected, f"of {total_requests}"),
        row("worker core busy", r["worker_cpu_seconds"] / r["seconds"]),
        row("sandbox core busy", r["sandbox_core_busy"]),
        row("backfill duration", r["seconds"], "s"),
    ]
    if "raw_seconds" in r:
        raw_rate = r["raw_records"] / r["raw_seconds"]
        rows += [
            row("sandbox page-serving rate (bare client, same pages)", raw_rate, "rec/s"),
            row("pull / sandbox page-serving rate", rate / raw_rate, ""),
        ]
    extra = {
        "raw_records": r.get("raw_records"),
        "raw_seconds": r.get("raw_seconds"),
        "contacts": args.contacts,
        "burst_limit": args.burst_limit,
        "burst_window_s": window_s,
        "ceiling_records_per_s": ceiling,
        "records_per_s": rate,
        "ratio": rate / ceiling,
        "fastest_schedule_s": fastest,
        "schedule_ratio": schedule_ratio,
        "records_per_window": per_window(r["marks"], window_s),
        "requests_by_status": statuses,
        "published_events": r["published"],
        "events_in_kafka": r["in_kafka"],
        "pages": r["pages"],
        "worker_peak_rss_mb": r["peak_rss_mb"],
        "worker_core_busy": r["worker_cpu_seconds"] / r["seconds"],
        "sandbox_core_busy": r["sandbox_core_busy"],
        "sandbox_seed_seconds": r["seed_seconds"],
        "pinned": args.pin,
        "quick": args.quick,
    }
    name = "backfill_quick" if args.quick else "backfill_unlimited" if args.unlimited else "backfill"
    if (
        not args.quick
        and not args.unlimited
        and (args.contacts, args.burst_limit) != (DEFAULT_CONTACTS, DEFAULT_BURST_LIMIT)
    ):
        name = f"backfill_{args.contacts}_{args.burst_limit}"  # keep the default run's file
    report(name, "Backfill pull throughput", rows, extra)
    if not all(row["ok"] in (True, None) for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
