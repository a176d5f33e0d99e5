"""The incremental poller's search pull as a share of its ceiling.

    python -m bench.search_pull [--contacts 60000] [--spread-s 3600] [--quick]

The sandbox (HubSpot's search limit: 5 requests per second, 200 records per page, 10,000
results per query) holds ``--contacts`` contacts modified over the last ``--spread-s`` seconds:
a poller catching up after an outage, or taking over from a backfill. One
:meth:`~hubsync.connectors.hubspot.sources.poller.IncrementalPoller.poll_once`, its watermark at the
first change (minus the usual overlap), reads them all through search (windows over 10,000
results are halved, as in production) with a client whose ``search_per_second`` is 5, and
publishes them to real Apache Kafka; its cursor is in PostgreSQL. ``--cold-start`` polls without
a watermark instead (from epoch 0): the halving then spends ~40 requests narrowing 56 years down
to the changes.

Ceiling = 5 requests/s x 200 records = 1,000 records/s. Target (SPEC section 6): >= 90% of it,
checked as (the least time the search limit allows for the fewest requests that return every
record) / (the poll's duration): for long runs that is records/s / ceiling, for short ones it
does not count the first second's burst of 5 as throughput.
Also reported: search requests made (including the count queries of windows that had to be
split), 429s (the client's ``HubSpotClientMetrics`` on a fresh registry) and whether Kafka holds
every published event. The sandbox runs on a thread of this process (its store is loaded
directly); at 5 requests/s it is far from busy.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench._report import report, summarize
from bench._services import count_requests, fresh_topics, kafka_and_postgres, messages_in, peak_rss_mb
from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.sources.cursors import CursorStore
from hubsync.connectors.hubspot.sources.poller import IncrementalPoller, PollerConfig
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.record_events import mapped_properties
from hubsync.connectors.hubspot.sources.search_windows import PAGE_SIZE
from hubsync.metrics import HubSpotClientMetrics
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import Writer
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings
from hubsync.storage.pool import PoolConfig, open_async_pool
from hubsync.streams.producer import AsyncKafkaPublisher

SEARCH_PER_SECOND = 5
CEILING = SEARCH_PER_SECOND * PAGE_SIZE
RATIO_TARGET = 0.90
TOKEN = "pat-bench"


def load_contacts(sandbox: ThreadedSandbox, n: int, spread_s: float) -> int:
    """``n`` contacts modified evenly over the ``spread_s`` seconds before a minute ago; returns
    the first modification time (epoch ms)."""
    end_ms = int((time.time() - 60) * 1000)
    start_ms = end_ms - int(spread_s * 1000)
    tag = uuid.uuid4().hex[:6]
    rows = [
        {
            "email": f"s{i}-{tag}@search.example",
            "firstname": f"First{i}",
            "lastname": f"Last{i}",
            "createdate": str(start_ms - 86_400_000),
            "lastmodifieddate": str(start_ms + (i * (end_ms - start_ms)) // max(1, n)),
        }
        for i in range(n)
    ]
    sandbox.state.store.load("contact", rows, Writer("IMPORT"))
    return start_ms


async def poll(base_url: str, settings: Settings, database_url: str, watermark_ms: int) -> dict[str, Any]:
    registry = CollectorRegistry()
    config = HubSpotClientConfig(
        access_token=SecretStr(TOKEN), base_url=base_url, search_per_second=SEARCH_PER_SECOND
    )
    pool = await open_async_pool(database_url, PoolConfig(max_size=2), name="bench-search")
    kafka = AsyncKafkaPublisher(settings.kafka_bootstrap_servers or "", SingleObjectCodec(SchemaRepository()))
    try:
        await kafka.start()
        async with HubSpotClient(config, metrics=HubSpotClientMetrics.create(registry)) as client:
            poller = IncrementalPoller(
                client,
                ChangeEventPublisher(kafka, settings.topics, source="POLLER"),
                CursorStore(pool),
                await mapped_properties(pool),
                config=PollerConfig(initial_watermark_ms=watermark_ms),
            )
            cpu_before = time.process_time()
            started = time.perf_counter()
            result = await poller.poll_once("contacts")
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
    finally:
        await kafka.close()
        await pool.close()
    return {
        "published": result.published,
        "seconds": elapsed,
        "process_cpu_seconds": cpu,
        "requests_by_status": count_requests(registry),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=60_000)
    parser.add_argument("--spread-s", type=float, default=3600.0, help="modification times span this")
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="poll without a cursor (from epoch 0) instead of from the start of the changes",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 contacts (~20 s): a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.contacts = min(args.contacts, 20_000)

    sandbox_config = SandboxConfig(search_per_second=SEARCH_PER_SECOND)
    with ThreadedSandbox(sandbox_config) as sandbox, kafka_and_postgres() as (bootstrap, database_url):
        first_change_ms = load_contacts(sandbox, args.contacts, args.spread_s)
        settings = fresh_topics(bootstrap, "search")
        watermark = 0 if args.cold_start else first_change_ms
        r = asyncio.run(poll(sandbox.base_url, settings, database_url, watermark))
        in_kafka = messages_in(bootstrap, settings.topics.hubspot_contacts)

    rate = r["published"] / r["seconds"]
    # the least time the search limit allows for the fewest requests that can return them all
    # (the first second's 5 requests go at once, which flatters plain records/s in short runs)
    fastest = ((math.ceil(args.contacts / PAGE_SIZE) - 1) // SEARCH_PER_SECOND) * 1.0
    schedule_ratio = fastest / r["seconds"] if fastest > 0 else None
    statuses: dict[str, int] = r["requests_by_status"]
    requests = sum(statuses.values())
    rejected = statuses.get("429", 0)
    complete = r["published"] == args.contacts and in_kafka == args.contacts

    def row(metric: str, value: float, unit: str = "", target: str = "-", ok: bool | None = None) -> Any:
        return {"metric": metric, "unit": unit, **summarize([value]), "target": target, "ok": ok}

    rows: list[dict[str, Any]] = [
        row("records published (all, once)", r["published"], "", ok=complete),
        row(f"ceiling ({SEARCH_PER_SECOND} req/s x {PAGE_SIZE})", CEILING, "rec/s"),
        row("search pull throughput", rate, "rec/s"),
        row("throughput / ceiling", rate / CEILING),
        row(
            "fastest allowed schedule / duration",
            schedule_ratio if schedule_ratio is not None else float("nan"),
            "",
            f">= {RATIO_TARGET:.2f}",
            None if schedule_ratio is None else schedule_ratio >= RATIO_TARGET,
        ),
        row("search requests per second", requests / r["seconds"], "req/s"),
        row("requests answered 429", rejected, f"of {requests}"),
        row("poll duration", r["seconds"], "s"),
        row("benchmark process core busy (poller + sandbox)", r["process_cpu_seconds"] / r["seconds"]),
    ]
    extra = {
        "contacts": args.contacts,
        "spread_s": args.spread_s,
        "cold_start": args.cold_start,
        "ceiling_records_per_s": CEILING,
        "records_per_s": rate,
        "ratio": rate / CEILING,
        "fastest_schedule_s": fastest,
        "schedule_ratio": schedule_ratio,
        "requests_by_status": statuses,
        "events_in_kafka": in_kafka,
        "peak_rss_mb": peak_rss_mb(),
        "quick": args.quick,
    }
    name = "search_pull" + ("_cold" if args.cold_start else "") + ("_quick" if args.quick else "")
    report(name, "Search pull throughput", rows, extra)
    if not all(row["ok"] in (True, None) for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
