"""Webhook acknowledgement latency and throughput of the webhook receiver.

    python -m bench.webhook_ack [--seconds 30] [--concurrency 10] [--rates 1000,4000] [--quick]

The receiver (:func:`~hubsync.connectors.hubspot.webhooks.service.webhook_service`: v3 signature
check, dedupe keys in PostgreSQL, Avro to real Apache Kafka, 200 once Kafka acknowledged) runs
in its own process; this process plays HubSpot with aiohttp, posting signed batches of 100
events (HubSpot's default batch size), every event new.

1. Unthrottled: ``--concurrency`` senders (HubSpot's default: 10) post back to back for
   ``--seconds``. Reported: events/s (the highest sustained rate at that concurrency) and the
   acknowledgement latency p50/p99. Target: p99 <= 500 ms.
2. Paced: for each of ``--rates`` (events/s), requests start on a fixed schedule for
   ``--stage-seconds`` (at most ``--concurrency`` in flight; a stage that cannot keep up shows
   as achieved < offered). Reported: p50/p99 at that load (informational).

The first ``--warmup-s`` of each stage are not counted. Every accepted event must be in Kafka.
Kafka and PostgreSQL: ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set, else test servers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench._report import report
from bench._services import cpu_seconds, fresh_topics, kafka_and_postgres, messages_in, peak_rss_mb, stop
from hubsync.hubspot_model.signatures import HEADER_SIGNATURE_V3, HEADER_TIMESTAMP, sign_v3
from hubsync.settings import Settings, TopicNames

P99_TARGET_MS = 500.0
BATCH = 100
SECRET = "bench-webhook-secret"


# ---- the receiver (a child process) ----------------------------------------------------------


async def _serve(job: dict[str, Any]) -> None:
    from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
    from hubsync.connectors.hubspot.webhooks.service import webhook_service
    from hubsync.metrics import ConnectorMetrics

    settings = Settings(
        kafka_bootstrap_servers=job["bootstrap"],
        database_url=SecretStr(job["database_url"]),
        hubspot_webhook_secret=SecretStr(SECRET),
        topics=TopicNames(**job["topics"]),
    )
    # the receiver's own speed is measured, not its request-rate bound
    config = WebhookReceiverConfig.from_settings(settings, max_requests_per_s=0)
    metrics = ConnectorMetrics.create(CollectorRegistry())
    stdin_closed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stdin_closed.set)

    async with webhook_service(settings, config, metrics, create_topics=False) as running:
        print(json.dumps({"url": running.url}), flush=True)
        threading.Thread(target=wait_for_eof, daemon=True).start()
        await stdin_closed.wait()
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


def _receiver_main(job_json: str) -> None:
    asyncio.run(_serve(json.loads(job_json)))


# ---- the load generator ----------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    offered_events_per_s: float | None
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    events: int = 0
    seconds: float = 0.0

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Sender:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.ids = itertools.count(int(time.time()) * 1000)
        self.accepted_events = 0

    def _body(self) -> bytes:
        now = time.time_ns() // 1_000_000
        events = []
        for _ in range(BATCH):
            n = next(self.ids)
            events.append(
                {
                    "eventId": n,
                    "subscriptionId": 4100103,
                    "portalId": 62515,
                    "appId": 1160452,
                    "occurredAt": now - 500,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 10_000_000 + n % 500_000,
                    "propertyName": "firstname",
                    "propertyValue": f"Name {n}",
                    "changeSource": "CRM_UI",
                    "sourceId": "userId:1",
                }
            )
        return json.dumps(events).encode()

    async def post(self, stage: Stage | None) -> None:
        body = self._body()
        ts = time.time_ns() // 1_000_000
        headers = {
            "Content-Type": "application/json",
            HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE_V3: sign_v3(SECRET, "POST", self.url, body, ts),
        }
        started = time.perf_counter()
        async with self.session.post(self.url, data=body, headers=headers) as response:
            await response.read()
        latency = time.perf_counter() - started
        if response.status == 200:
            self.accepted_events += BATCH
        if stage is not None:
            stage.latencies_s.append(latency)
            stage.statuses[response.status] = stage.statuses.get(response.status, 0) + 1
            if response.status == 200:
                stage.events += BATCH


async def unthrottled(sender: Sender, stage: Stage, concurrency: int, seconds: float, warmup: float) -> None:
    began = time.perf_counter()
    counting_from = began + warmup
    deadline = counting_from + seconds

    async def loop() -> None:
        while (now := time.perf_counter()) < deadline:
            await sender.post(stage if now >= counting_from else None)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    stage.seconds = time.perf_counter() - counting_from


async def paced(
    sender: Sender, stage: Stage, rate: float, concurrency: int, seconds: float, warmup: float
) -> None:
    interval = BATCH / rate
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    began = time.perf_counter()
    counting_from = began + warmup
    deadline = counting_from + seconds

    async def one(counted: bool) -> None:
        try:
            await sender.post(stage if counted else None)
        finally:
            slots.release()

    k = 0
    while (start_at := began + k * interval) < deadline:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        await slots.acquire()  # more than `concurrency` late: the schedule slips (achieved < offered)
        task = asyncio.create_task(one(start_at >= counting_from))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        k += 1
    await asyncio.gather(*tasks)
    stage.seconds = time.perf_counter() - counting_from


async def load(url: str, args: argparse.Namespace) -> tuple[list[Stage], int]:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        sender = Sender(session, url)
        stages = [Stage(f"unthrottled, {args.concurrency} senders", None)]
        await unthrottled(sender, stages[0], args.concurrency, args.seconds, args.warmup_s)
        for rate in args.rates:
            stage = Stage(f"paced {rate:,.0f} events/s", rate)
            await paced(sender, stage, rate, args.concurrency, args.stage_seconds, args.warmup_s)
            stages.append(stage)
        return stages, sender.accepted_events


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="unthrottled stage length")
    parser.add_argument("--concurrency", type=int, default=10, help="senders (HubSpot: 10)")
    parser.add_argument(
        "--rates",
        type=lambda s: [float(r) for r in s.split(",") if r],
        default=[1000.0, 4000.0],
        help="paced stages, events/s, comma-separated ('' for none)",
    )
    parser.add_argument("--stage-seconds", type=float, default=15.0, help="paced stage length")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="5 s unthrottled, one 5 s stage at 1,000/s")
    parser.add_argument("--receiver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        _receiver_main(args.receiver)
        return
    if args.quick:
        args.seconds, args.stage_seconds, args.rates, args.warmup_s = 5.0, 5.0, [1000.0], 1.0

    with kafka_and_postgres() as (bootstrap, database_url):
        settings = fresh_topics(bootstrap, "webhook")
        job = {"bootstrap": bootstrap, "database_url": database_url, "topics": settings.topics.model_dump()}
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_ack", "--receiver", json.dumps(job)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert receiver.stdin is not None
        assert receiver.stdout is not None
        try:
            url = json.loads(receiver.stdout.readline())["url"]
            cpu_before = cpu_seconds(receiver.pid)
            own_cpu_before = time.process_time()
            began = time.perf_counter()
            stages, accepted = asyncio.run(load(url, args))
            elapsed = time.perf_counter() - began
            receiver_busy = (cpu_seconds(receiver.pid) - cpu_before) / elapsed
            generator_busy = (time.process_time() - own_cpu_before) / elapsed
            receiver.stdin.close()
            receiver_rss = float(json.loads(receiver.stdout.readline())["peak_rss_mb"])
            receiver.wait(30)
        finally:
            if receiver.poll() is None:
                stop(receiver)
        in_kafka = messages_in(bootstrap, settings.topics.hubspot_contacts)

    main_stage = stages[0]
    p99_ok = main_stage.percentile_ms(0.99) <= P99_TARGET_MS
    all_ok = all(set(s.statuses) <= {200} for s in stages) and in_kafka == accepted
    rows: list[dict[str, Any]] = []
    for s in stages:
        p50, p99 = s.percentile_ms(0.5), s.percentile_ms(0.99)
        is_main = s is main_stage
        rows.append(
            {
                "metric": f"{s.name}: ack latency p50 / p99 / max",
                "unit": "ms",
                "min": p50,
                "median": p99,
                "max": 1000 * max(s.latencies_s, default=float("nan")),
                "target": f"p99 <= {P99_TARGET_MS:.0f} ms" if is_main else "-",
                "ok": p99 <= P99_TARGET_MS if is_main else None,
            }
        )
        offered = s.offered_events_per_s
        rows.append(
            {
                "metric": f"{s.name}: events/s" + (f" (offered {offered:,.0f})" if offered else ""),
                "unit": "ev/s",
                "min": s.events_per_s,
                "median": s.events_per_s,
                "max": s.events_per_s,
                "target": "-",
                "ok": None,
            }
        )
    sustained = max(
        (
            s.events_per_s
            for s in stages
            if s.percentile_ms(0.99) <= P99_TARGET_MS
            and (s.offered_events_per_s is None or s.events_per_s >= 0.95 * s.offered_events_per_s)
        ),
        default=0.0,
    )
    for metric, value, unit in (
        ("highest sustained events/s with p99 <= 500 ms", sustained, "ev/s"),
        ("receiver core busy", receiver_busy, ""),
        ("load generator core busy", generator_busy, ""),
        ("receiver peak RSS", receiver_rss, "MB"),
    ):
        rows.append({"metric": metric, "unit": unit, "min": value, "median": value, "max": value, "ok": None})
    rows.append(
        {
            "metric": "events accepted = events in Kafka, all answers 200",
            "unit": "",
            "min": accepted,
            "median": in_kafka,
            "max": in_kafka,
            "ok": all_ok,
        }
    )
    extra = {
        "note": "latency rows: min = p50, median = p99, max = max",
        "stages": [
            {
                "name": s.name,
                "offered_events_per_s": s.offered_events_per_s,
                "events_per_s": s.events_per_s,
                "requests": len(s.latencies_s),
                "statuses": s.statuses,
                "p50_ms": s.percentile_ms(0.5),
                "p90_ms": s.percentile_ms(0.9),
                "p99_ms": s.percentile_ms(0.99),
                "max_ms": 1000 * max(s.latencies_s, default=float("nan")),
            }
            for s in stages
        ],
        "highest_sustained_events_per_s": sustained,
        "concurrency": args.concurrency,
        "batch_size": BATCH,
        "events_accepted": accepted,
        "events_in_kafka": in_kafka,
        "receiver_core_busy": receiver_busy,
        "load_generator_core_busy": generator_busy,
        "receiver_peak_rss_mb": receiver_rss,
        "quick": args.quick,
    }
    report("webhook_ack" if not args.quick else "webhook_ack_quick", "Webhook acknowledgement", rows, extra)
    if not (p99_ok and all_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
