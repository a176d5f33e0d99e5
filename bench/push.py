"""Push throughput as a share of HubSpot's rate-limit ceiling; 429s; nothing lost; no duplicates.

    python -m bench.push [--records 60000] [--burst-limit 190] [--quick]

``hubsync sandbox`` runs in its own process with HubSpot's Professional/Enterprise burst limit
(190 requests per 10 s; ``--burst-limit`` to scale it). ``--records`` net-new platform contacts are
written to PostgreSQL and their ``CREATED`` changes fed to the push agent's
:class:`~hubsync.push.agent.PushProcessor` in batches of 500 (as the worker's agent takes them from
``platform.contacts.changes``), which upserts them 100 per request through the rate-limited client.

Ceiling = burst limit / 10 s x 100 records per request. Target (SPEC section 6): records/s >= 95%
of it, checked as (the least time the rolling window allows for the requests made) / (the push's
duration), which for long runs is records/s / ceiling and for short ones does not count the first
window's budget (spendable at once) as throughput; <= 0.5% of requests answered 429; every record
in HubSpot exactly once (by ``hubsync_record_id``) and linked in PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench._report import report, summarize
from bench._services import count_requests, fresh_topics, kafka_and_postgres, start_sandbox, stop
from bench.backfill import fastest_schedule_s
from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository
from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.metrics import HubSpotClientMetrics
from hubsync.push.agent import PushProcessor
from hubsync.push.errors import ErrorTopicPublisher
from hubsync.push.failures import ErrorLog
from hubsync.push.setup import ensure_record_id_property
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.pool import open_pool
from hubsync.streams.dlq import DeadLetterPublisher
from hubsync.streams.producer import AsyncKafkaPublisher

RATIO_TARGET = 0.95
RATE_429_TARGET = 0.005
WINDOW_S = 10.0
RECORDS_PER_REQUEST = 100
BATCH = 500
TOKEN = "pat-bench"
REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)
SCHEMA = REPO.current("platform_change_event")


class Message:
    """A consumed ``platform.contacts.changes`` message, as the processor reads it."""

    def __init__(self, topic: str, value: bytes, offset: int) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b""

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return 1, int(time.time() * 1000)


def platform_contacts(url: str, n: int) -> list[int]:
    with psycopg.connect(url) as conn:
        seed_defaults(conn, load_defaults())
        rows = conn.execute(
            "INSERT INTO hubsync.contacts (creation_source, email, first_name, properties)"
            " SELECT 'platform', 'p' || g || '@bench.example', 'P' || g,"
            " jsonb_build_object('email', 'p' || g || '@bench.example', 'firstname', 'P' || g)"
            " FROM generate_series(1, %s) g RETURNING id",
            (n,),
        ).fetchall()
        return [int(r[0]) for r in rows]


def created(record_id: int, topic: str, offset: int) -> Message:
    now = int(time.time() * 1000)
    value = {
        "event_id": str(uuid.uuid4()),
        "object_type": "CONTACT",
        "record_id": record_id,
        "change_type": "CREATED",
        "occurred_at": now,
        "hubspot_id": None,
        "changed_fields": {},
        "field_rules": {},
        "field_timestamps": {},
        "manual": False,
        "merged_into_id": None,
        "cause_event": None,
    }
    return Message(topic, CODEC.encode(topic, SCHEMA, value), offset)


async def push_all(base_url: str, bootstrap: str, url: str, ids: list[int], topics: Any) -> dict[str, Any]:
    registry = CollectorRegistry()
    config = HubSpotClientConfig(access_token=SecretStr(TOKEN), base_url=base_url)
    messages = [created(rid, topics.platform_contacts, i) for i, rid in enumerate(ids)]
    pool = open_pool(url)
    try:
        async with (
            AsyncKafkaPublisher(bootstrap, CODEC) as publisher,
            HubSpotClient(config, metrics=HubSpotClientMetrics.create(registry)) as client,
        ):
            await ensure_record_id_property(client)
            settings = fresh_topics(bootstrap, "push-errors")
            processor = PushProcessor(
                pool,
                client,
                CODEC,
                DeadLetterPublisher.from_settings(settings, publisher, CODEC, registry=registry),
                ErrorLog(ErrorTopicPublisher.from_settings(settings, publisher, CODEC, registry=registry)),
            )
            base = count_requests(registry)
            started = time.perf_counter()
            failed = 0
            for i in range(0, len(messages), BATCH):
                result = await processor.process(messages[i : i + BATCH])
                failed += result.failed
            seconds = time.perf_counter() - started
            by_status = {k: v - base.get(k, 0) for k, v in count_requests(registry).items()}
    finally:
        pool.close()
    return {"seconds": seconds, "by_status": by_status, "failed": failed}


def verify(base_url: str, url: str, ids: list[int]) -> dict[str, int]:
    """Every record in HubSpot once (by hubsync_record_id) and linked in PostgreSQL."""
    control = httpx.Client(base_url=f"{base_url}/_sandbox", timeout=60)
    control.put("/rate-limits", json={"burst_limit": 1_000_000}).raise_for_status()
    api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    seen: dict[str, int] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, "properties": "hubsync_record_id"}
        if after:
            params["after"] = after
        body = api.get("/crm/v3/objects/contacts", params=params).json()
        for record in body["results"]:
            key = record["properties"].get("hubsync_record_id")
            if key:
                seen[key] = seen.get(key, 0) + 1
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM hubsync.contacts WHERE hubspot_id IS NOT NULL").fetchone()
        linked = int(row[0]) if row else 0
    wanted = {str(i) for i in ids}
    return {
        "missing": len(wanted - set(seen)),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "linked": linked,
    }


def trial(records: int, burst_limit: int) -> dict[str, Any]:
    sandbox, base_url = start_sandbox(
        ["--seed", "0", "--burst-limit", str(burst_limit), "--access-token", TOKEN]
    )
    try:
        with kafka_and_postgres() as (bootstrap, url):
            ids = platform_contacts(url, records)
            settings = fresh_topics(bootstrap, "push")
            pushed = asyncio.run(push_all(base_url, bootstrap, url, ids, settings.topics))
            checked = verify(base_url, url, ids)
    finally:
        stop(sandbox)
    requests = sum(pushed["by_status"].values())
    ok_requests = sum(v for k, v in pushed["by_status"].items() if k.startswith("2"))
    ceiling = burst_limit / WINDOW_S * RECORDS_PER_REQUEST
    return {
        "records": records,
        "records_per_s": records / pushed["seconds"],
        "ceiling_records_per_s": ceiling,
        "ratio": fastest_schedule_s(ok_requests, burst_limit, WINDOW_S) / pushed["seconds"],
        "requests": requests,
        "rate_429": pushed["by_status"].get("429", 0) / max(requests, 1),
        "failed": pushed["failed"],
        **checked,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument(
        "--burst-limit", type=int, default=190, help="sandbox requests per 10 s (HubSpot: 190)"
    )
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="25,000 records (~15 s at 190/10 s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.records = 25_000
    results = []
    for i in range(args.trials):
        result = trial(args.records, args.burst_limit)
        print(f"trial {i + 1}: {result}", flush=True)
        results.append(result)

    def row(metric: str, key: str, unit: str, target: str, ok: bool | None = None) -> dict[str, Any]:
        return {
            "metric": metric,
            "unit": unit,
            "target": target,
            "ok": ok,
            **summarize([r[key] for r in results]),
        }

    ratio = summarize([r["ratio"] for r in results])["median"]
    rate_429 = max(r["rate_429"] for r in results)
    lost = max(r["missing"] for r in results)
    duplicates = max(r["duplicates"] for r in results)
    report(
        "push",
        f"Push: {args.records:,} net-new contacts at {args.burst_limit}/10 s",
        [
            row("records/s", "records_per_s", "rec/s", "-"),
            row("ceiling", "ceiling_records_per_s", "rec/s", "-"),
            row("share of ceiling", "ratio", "x", f">= {RATIO_TARGET}", ratio >= RATIO_TARGET),
            row(
                "requests answered 429", "rate_429", "", f"<= {RATE_429_TARGET}", rate_429 <= RATE_429_TARGET
            ),
            row("records missing in HubSpot", "missing", "", "0", lost == 0),
            row("duplicate HubSpot records", "duplicates", "", "0", duplicates == 0),
            row("linked in PostgreSQL", "linked", "", f"{args.records}"),
        ],
        extra={"trials": results, "burst_limit": args.burst_limit},
    )


if __name__ == "__main__":
    main()
