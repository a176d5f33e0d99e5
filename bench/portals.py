"""Many portals in one deployment: throughput, fairness, and a big backfill beside small portals.

    python -m bench.portals [--portals 100] [--contacts 2000] [--big 200000] [--seconds 60] [--quick]

``hubsync sandbox`` runs in its own process as the public app's HubSpot: every portal installs
the app through its OAuth endpoints (the tokens are stored encrypted, as ``/oauth/callback``
does) and has its own records and its own rate limit, a public app's 110 requests per 10 s.
Kafka and PostgreSQL are real (``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set).

**1. Pulled and pushed at once.** ``--portals`` portals of ``--contacts`` contacts each. First the
sandbox's own capacity is measured in the same run: its rate limits lifted, 32 connections read
contact pages of every portal as fast as it answers for 5 s (records/s). Then, limits back at
110/10 s, every portal at once, through :class:`~hubsync.connectors.hubspot.oauth.clients.PortalClients`
(one client per portal, the process's fair share, 64 requests in flight): a full backfill of
the portal's contacts to Kafka (``Backfill``, the BACKFILL lane) and a push of ``--contacts`` new
contacts (batch upserts of 100 on ``hubsync_record_id``, the REALTIME lane, as the push agent
sends them). Reported: total records/s (pulled + pushed); its ratio to the lower of the sum of
the portals' ceilings (110 / 10 s x 100 records per request) and the sandbox's measured capacity;
fairness, the slowest portal's completion time over the median. Checked: Kafka holds every pulled
record, each under its portal's key, and each portal's HubSpot holds its pushed contacts.

**2. One big backfill beside small portals.** A ``hubsync run`` (public app, no poller) serves
portal BIG with ``--big`` contacts and ``--portals - 1`` small portals of 20 contacts, pulled into
PostgreSQL first. Then ``hubsync --portal BIG pull --full`` runs while, for ``--seconds``, signed
webhook batches of the small portals (a ``lastname`` change each, one per record) are posted to
the run's receiver. Webhook-to-PostgreSQL latency: the record's ``updated_at`` (its transaction's
time) minus the moment its webhook was posted. Target: p99 below 1 s while the backfill runs.

``--quick``: 10 portals of 500 contacts, a 20,000-contact big portal, 10 s of webhooks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from bench._report import report, summarize
from bench._services import PARTITIONS, fresh_topics, kafka_and_postgres, start_sandbox, stop
from hubsync._runtime.processes import free_port
from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.http.ratelimit import Lane
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.clients import PortalClients
from hubsync.connectors.hubspot.oauth.runtime import portal_store
from hubsync.connectors.hubspot.sources.backfill import Backfill
from hubsync.connectors.hubspot.sources.cursors import CursorStore
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.record_events import mapped_properties
from hubsync.hubspot_model.signatures import v3_headers
from hubsync.push.setup import ensure_record_id_property
from hubsync.settings import Settings, require_database_url
from hubsync.storage.defaults import load_defaults
from hubsync.storage.pool import PoolConfig, open_async_pool
from hubsync.storage.token_cipher import new_key
from hubsync.streams.connection import kafka_connection
from hubsync.streams.producer import AsyncKafkaPublisher

CLIENT_ID = "hubsync-bench-app"
CLIENT_SECRET = "bench-app-secret"
PUBLIC_APP_LIMIT = 110  # requests per 10 s per installing portal
WINDOW_S = 10.0
RECORDS_PER_REQUEST = 100
FIRST_PORTAL = 100_001
SMALL_CONTACTS = 20
P99_TARGET_S = 1.0


def _settings(base_url: str, database_url: str, keys: str, **extra: Any) -> Settings:
    return Settings(
        database_url=SecretStr(database_url),
        hubspot_base_url=base_url,
        hubspot_client_id=CLIENT_ID,
        hubspot_client_secret=SecretStr(CLIENT_SECRET),
        hubspot_oauth_redirect_uri="http://127.0.0.1:1/oauth/callback",
        token_keys=SecretStr(keys),
        **extra,
    )


async def install(settings: Settings, portals: list[int], contacts: dict[int, int]) -> None:
    """Each portal installs the app (consent, code exchange, token info, stored as the callback
    does) and is seeded in the sandbox with its contacts, at the public app's limit."""
    oauth = OAuthClient(OAuthAppConfig.from_settings(settings))
    store = portal_store(settings)
    defaults = load_defaults()
    base = settings.hubspot_base_url
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for portal in portals:
            redirect = await http.get(
                "/oauth/authorize",
                params={
                    "client_id": CLIENT_ID,
                    "redirect_uri": settings.hubspot_oauth_redirect_uri,
                    "portal_id": str(portal),
                },
            )
            code = httpx.URL(redirect.headers["location"]).params["code"]
            tokens = await oauth.exchange_code(code)
            info = await oauth.token_info(tokens.access_token)
            await store.install(
                portal, tokens, hub_domain=info.hub_domain, app_id=info.app_id, scopes=info.scopes
            )
            await store.seed(portal, defaults)
            seeded = await http.post(
                "/_sandbox/seed",
                params={"portal": str(portal)},
                json={"contacts": contacts[portal], "companies": 0, "duplicate_share": 0.0, "seed": portal},
            )
            seeded.raise_for_status()
            await set_limit(http, portal, PUBLIC_APP_LIMIT)


async def set_limit(http: httpx.AsyncClient, portal: int, limit: int) -> None:
    answer = await http.put(
        "/_sandbox/rate-limits", params={"portal": str(portal)}, json={"burst_limit": limit}
    )
    answer.raise_for_status()


async def sandbox_capacity(settings: Settings, portals: list[int], seconds: float = 5.0) -> float:
    """Records/s the sandbox serves for the same mix as the run (half pages read, half batch upserts
    of 100 new contacts), its limits lifted, 32 connections, on spare portals of their own (so the
    measured portals keep exactly their own records)."""
    store = portal_store(settings)
    tokens = {p: (await store.tokens(p)).access_token for p in portals}
    records = 0
    async with httpx.AsyncClient(
        base_url=settings.hubspot_base_url, timeout=60, limits=httpx.Limits(max_connections=32)
    ) as http:
        for portal in portals:
            await set_limit(http, portal, 1_000_000)
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker(index: int) -> None:
            nonlocal records
            rng = random.Random(index)
            sequence = 0
            while time.perf_counter() < deadline:
                portal = rng.choice(portals)
                auth = {"Authorization": f"Bearer {tokens[portal]}"}
                if index % 2:
                    answer = await http.get("/crm/v3/objects/contacts", params={"limit": 100}, headers=auth)
                    answer.raise_for_status()
                    records += len(answer.json()["results"])
                    continue
                inputs = [
                    {
                        "id": f"cap-{index}-{sequence}-{i}",
                        "idProperty": "hubsync_record_id",
                        "properties": {"email": f"cap-{index}-{sequence}-{i}@capacity.example"},
                    }
                    for i in range(RECORDS_PER_REQUEST)
                ]
                sequence += 1
                answer = await http.post(
                    "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}, headers=auth
                )
                answer.raise_for_status()
                records += len(answer.json()["results"])

        await asyncio.gather(*(worker(i) for i in range(32)))
        elapsed = time.perf_counter() - started
    return records / elapsed


async def prepare_capacity_portals(settings: Settings, portals: list[int]) -> None:
    """Spare portals for the capacity measurement, with the ``hubsync_record_id`` property."""
    clients = PortalClients(settings)
    try:
        for portal in portals:
            await ensure_record_id_property(clients.client(portal))
    finally:
        await clients.aclose()


@dataclass
class Pulling:
    """What full reads of many portals share: one client per portal, a pool, a Kafka publisher."""

    clients: PortalClients
    pool: AsyncConnectionPool[Any]
    publisher: ChangeEventPublisher

    async def pull(self, portal: int) -> int:
        """A full read of ``portal``'s contacts to Kafka (what ``hubsync pull --full`` does); records read."""
        backfill = Backfill(
            self.clients.client(portal),
            self.publisher,
            CursorStore(self.pool, portal),
            await mapped_properties(self.pool, portal),
            connector="bench",
            portal_id=portal,
        )
        return (await backfill.run("contacts", restart=True)).records


@contextlib.asynccontextmanager
async def pulling(settings: Settings) -> AsyncIterator[Pulling]:
    clients = PortalClients(settings)
    # every portal saves its cursor as it goes: room for all of them to wait
    pool = await open_async_pool(
        require_database_url(settings), PoolConfig(max_size=8, max_waiting=0), name="bench-portals"
    )
    kafka = AsyncKafkaPublisher(kafka_connection(settings), SingleObjectCodec(SchemaRepository()))
    try:
        await kafka.start()
        yield Pulling(clients, pool, ChangeEventPublisher(kafka, settings.topics, source="BACKFILL"))
    finally:
        await kafka.close()
        await clients.aclose()
        await pool.close()


async def pull_and_push(settings: Settings, portals: list[int], contacts: int) -> dict[str, Any]:
    """Every portal at once: a full backfill to Kafka and a push of ``contacts`` new contacts."""
    finished: dict[int, float] = {}
    pulled: dict[int, int] = {}
    pushed: dict[int, int] = {}
    async with pulling(settings) as run:
        started = time.perf_counter()

        async def portal_job(portal: int) -> None:
            client = run.clients.client(portal)

            async def pull() -> None:
                pulled[portal] = await run.pull(portal)

            async def push() -> None:
                await ensure_record_id_property(client)
                done = 0
                for start in range(0, contacts, RECORDS_PER_REQUEST):
                    inputs = [
                        {
                            "id": f"{portal}-{i}",
                            "idProperty": "hubsync_record_id",
                            "properties": {
                                "email": f"pushed-{i}@portal-{portal}.example",
                                "firstname": f"P{i}",
                            },
                        }
                        for i in range(start, min(contacts, start + RECORDS_PER_REQUEST))
                    ]
                    outcome = await client.batch_upsert("contacts", inputs, lane=Lane.REALTIME)
                    done += len(outcome.succeeded)
                pushed[portal] = done

            await asyncio.gather(pull(), push())
            finished[portal] = time.perf_counter() - started

        await asyncio.gather(*(portal_job(p) for p in portals))
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "finished": finished, "pulled": pulled, "pushed": pushed}


async def pull_all(settings: Settings, portals: list[int]) -> None:
    """A full read of each portal's contacts to Kafka, every portal at once."""
    async with pulling(settings) as run:
        await asyncio.gather(*(run.pull(p) for p in portals))


def kafka_portal_counts(bootstrap: str, topic: str) -> dict[int, int]:
    """Messages per portal (the key's ``<portal>:`` prefix) in ``topic``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    counts: dict[int, int] = {}
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        left = sum(ends.values())
        while left > 0:
            for message in consumer.consume(1000, timeout=5):
                if message.error():
                    continue
                portal = int((message.key() or b"0:").split(b":", 1)[0])
                counts[portal] = counts.get(portal, 0) + 1
                left -= 1
    finally:
        consumer.close()
    return counts


def sandbox_contacts(base_url: str, portal: int) -> int:
    status = httpx.get(f"{base_url}/_sandbox/status", params={"portal": str(portal)}, timeout=30).json()
    return int(status["records"]["contacts"])


# ---- part 2: a big backfill beside small portals' webhooks ---------------------------------------


@contextlib.contextmanager
def hubsync_run(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubsync", "run", "--webhook-port", str(port), "--no-poller"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.post(f"http://127.0.0.1:{port}/webhooks/hubspot", content=b"[]").status_code in (
                    200,
                    401,
                ):
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError("hubsync run did not serve its receiver within 90 s")
        yield proc
    finally:
        stop(proc)


def count(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def wait_for_rows(url: str, sql: str, params: tuple[Any, ...], expected: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while count(url, sql, params) < expected:
        if time.time() > deadline:
            raise RuntimeError(f"timed out: {sql} {params} < {expected}")
        time.sleep(0.5)


def post_batch(port: int, events: list[dict[str, Any]]) -> None:
    body = json.dumps(events).encode()
    uri = f"http://127.0.0.1:{port}/webhooks/hubspot"
    httpx.post(uri, content=body, headers=v3_headers(CLIENT_SECRET, uri, body), timeout=30).raise_for_status()


def big_beside_small(
    base_url: str, bootstrap: str, database_url: str, keys: str, small: list[int], big: int, seconds: float
) -> dict[str, Any]:
    settings = fresh_topics(bootstrap, "portals2")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUBSYNC_", "HUBSPOT_", "KAFKA_"))},
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "HUBSPOT_BASE_URL": base_url,
        "HUBSPOT_CLIENT_ID": CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
        "HUBSPOT_WEBHOOK_SECRET": CLIENT_SECRET,
        "HUBSPOT_OAUTH_REDIRECT_URI": f"http://127.0.0.1:{port}/oauth/callback",
        "HUBSYNC_TOKEN_KEYS": keys,
        "HUBSYNC_CONSUMER_GROUP": f"bench-portals-{uuid.uuid4().hex[:8]}",
        "HUBSYNC_METRICS_PORT": "0",
        "HUBSYNC_TOPIC_PARTITIONS": str(PARTITIONS),
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in settings.topics.model_dump().items()},
    }
    small_set = tuple(small)
    with hubsync_run(env, port):
        # the small portals' contacts into PostgreSQL first (their webhooks change existing records)
        asyncio.run(
            pull_all(
                _settings(
                    base_url, database_url, keys, kafka_bootstrap_servers=bootstrap, topics=settings.topics
                ),
                small,
            )
        )
        wait_for_rows(
            database_url,
            "SELECT count(*) FROM hubsync.contacts_all WHERE portal_id = ANY(%s)",
            (list(small_set),),
            len(small) * SMALL_CONTACTS,
            timeout=300,
        )
        records = []
        with psycopg.connect(database_url) as conn:
            records = conn.execute(
                "SELECT portal_id, hubspot_id FROM hubsync.contacts_all WHERE portal_id = ANY(%s)",
                (list(small_set),),
            ).fetchall()
        random.Random(7).shuffle(records)
        # the big portal's backfill, in its own process, as an operator would start it
        backfill = subprocess.Popen(
            [sys.executable, "-m", "hubsync", "pull", "contacts", "--full"],
            env={**env, "HUBSYNC_PORTAL_ID": str(big)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sent: dict[tuple[int, str], float] = {}
        try:
            time.sleep(3)  # the backfill is under way
            rate = max(1, int(len(records) / seconds))
            started = time.time()
            index = 0
            while time.time() - started < seconds and index < len(records):
                tick = time.time()
                batch = records[index : index + max(1, rate // 10)]
                index += len(batch)
                now_ms = int(time.time() * 1000)
                events = [
                    {
                        "eventId": random.getrandbits(40),
                        "subscriptionId": 1,
                        "portalId": int(portal),
                        "appId": 1,
                        "occurredAt": now_ms,
                        "subscriptionType": "contact.propertyChange",
                        "attemptNumber": 0,
                        "objectId": int(hubspot_id),
                        "propertyName": "lastname",
                        "propertyValue": f"w{now_ms}",
                        "changeSource": "CRM_UI",
                    }
                    for portal, hubspot_id in batch
                ]
                posted = time.time()
                post_batch(port, events)
                for portal, hubspot_id in batch:
                    sent[(int(portal), str(hubspot_id))] = posted
                time.sleep(max(0.0, 0.1 - (time.time() - tick)))
            wait_for_rows(
                database_url,
                "SELECT count(*) FROM hubsync.contacts_all"
                " WHERE portal_id = ANY(%s) AND last_name LIKE 'w%%'",
                (list(small_set),),
                len(sent),
                timeout=120,
            )
            big_in_pg = count(
                database_url, "SELECT count(*) FROM hubsync.contacts_all WHERE portal_id = %s", (big,)
            )
            backfill_running = backfill.poll() is None
        finally:
            backfill.terminate()
            backfill.wait(30)
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT portal_id, hubspot_id, extract(epoch FROM updated_at) FROM hubsync.contacts_all"
                " WHERE portal_id = ANY(%s) AND last_name LIKE 'w%%'",
                (list(small_set),),
            ).fetchall()
    first = min(sent.values(), default=0.0)
    timeline = sorted(
        (sent[(int(p), str(h))] - first, float(t) - sent[(int(p), str(h))])
        for p, h, t in rows
        if (int(p), str(h)) in sent
    )
    latencies = sorted(latency for _, latency in timeline)
    return {
        "webhooks": len(sent),
        "applied": len(latencies),
        "latencies": latencies,
        "timeline": timeline,
        "big_in_postgres_after_window": big_in_pg,
        "backfill_still_running": backfill_running,
    }


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--portals", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--part",
        choices=("all", "one", "two"),
        default="all",
        help="one: pulled and pushed at once; two: big backfill",
    )
    args = parser.parse_args()
    if args.quick:
        args.portals, args.contacts, args.big, args.seconds = 10, 500, 20_000, 10.0

    portals = [FIRST_PORTAL + i for i in range(args.portals)]
    big = FIRST_PORTAL + 10_000
    small = portals[: args.portals - 1]
    keys = new_key("bench")
    sandbox, base_url = start_sandbox(
        [
            "--burst-limit",
            str(PUBLIC_APP_LIMIT),
            "--oauth-client-id",
            CLIENT_ID,
            "--oauth-client-secret",
            CLIENT_SECRET,
        ]
    )
    try:
        with kafka_and_postgres() as (bootstrap, database_url):
            topics = fresh_topics(bootstrap, "portals").topics
            settings = _settings(
                base_url, database_url, keys, kafka_bootstrap_servers=bootstrap, topics=topics
            )
            seeded = args.contacts if args.part != "two" else SMALL_CONTACTS
            asyncio.run(install(settings, portals, dict.fromkeys(portals, seeded)))
            one: dict[str, Any] = {}
            if args.part in ("all", "one"):
                spare = [FIRST_PORTAL + 20_000 + i for i in range(10)]
                asyncio.run(install(settings, spare, dict.fromkeys(spare, args.contacts)))
                asyncio.run(prepare_capacity_portals(settings, spare))
                one["capacity"] = asyncio.run(sandbox_capacity(settings, spare))
                one.update(asyncio.run(pull_and_push(settings, portals, args.contacts)))
                one["in_kafka"] = kafka_portal_counts(bootstrap, topics.hubspot_contacts_backfill)
                one["in_hubspot"] = {p: sandbox_contacts(base_url, p) for p in portals}

            # part 2: reuse the small portals, reseeded with 20 contacts each, beside the big one
            with psycopg.connect(database_url) as conn:
                conn.execute("TRUNCATE hubsync.connector_cursors_all")
                conn.commit()

            async def part_two_setup() -> None:
                async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
                    for portal in small:
                        await http.post("/_sandbox/reset", params={"portal": str(portal)})
                        answer = await http.post(
                            "/_sandbox/seed",
                            params={"portal": str(portal)},
                            json={
                                "contacts": SMALL_CONTACTS,
                                "companies": 0,
                                "duplicate_share": 0.0,
                                "seed": portal,
                            },
                        )
                        answer.raise_for_status()
                        await set_limit(http, portal, PUBLIC_APP_LIMIT)
                await install(settings, [big], {big: args.big})

            two: dict[str, Any] = {}
            if args.part in ("all", "two"):
                asyncio.run(part_two_setup())
                two = big_beside_small(base_url, bootstrap, database_url, keys, small, big, args.seconds)
    finally:
        stop(sandbox)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"portals": args.portals, "contacts_per_portal": args.contacts}
    if one:
        part_one(args, portals, one, rows, extra)
    if two:
        part_two(args, two, rows, extra)
    report(
        "portals", "Many portals: pulled and pushed at once; a big backfill beside small portals", rows, extra
    )


def row(
    metric: str, value: float, unit: str = "", target: str = "-", ok: bool | None = None
) -> dict[str, Any]:
    return {"metric": metric, "unit": unit, **summarize([value]), "target": target, "ok": ok}


def part_one(
    args: argparse.Namespace,
    portals: list[int],
    one: dict[str, Any],
    rows: list[dict[str, Any]],
    extra: dict[str, Any],
) -> None:
    capacity, in_kafka, in_hubspot = one["capacity"], one["in_kafka"], one["in_hubspot"]

    total_records = sum(one["pulled"].values()) + sum(one["pushed"].values())
    rate = total_records / one["seconds"]
    ceilings = args.portals * PUBLIC_APP_LIMIT / WINDOW_S * RECORDS_PER_REQUEST
    bound = min(ceilings, capacity)
    times = list(one["finished"].values())
    fairness = max(times) / statistics.median(times)
    complete = all(in_kafka.get(p, 0) >= args.contacts for p in portals) and all(
        one["pushed"][p] == args.contacts and in_hubspot[p] == 2 * args.contacts for p in portals
    )
    rows += [
        row(f"records pulled + pushed ({args.portals} portals)", total_records, "", ok=complete),
        row("sum of the portals' ceilings", ceilings, "rec/s"),
        row("sandbox capacity, same mix (measured)", capacity, "rec/s"),
        row("pulled + pushed throughput", rate, "rec/s"),
        row("throughput / lower bound", rate / bound, ""),
        row("slowest portal / median portal", fairness, ""),
        row("slowest portal", max(times), "s"),
    ]
    extra.update(
        records_per_s=rate,
        ceilings_records_per_s=ceilings,
        sandbox_capacity_records_per_s=capacity,
        fairness_slowest_over_median=fairness,
        portal_seconds=sorted(times),
    )


def part_two(
    args: argparse.Namespace, two: dict[str, Any], rows: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    lat = two["latencies"]
    p99 = quantile(lat, 0.99)
    rows += [
        row(
            "webhooks of small portals applied",
            float(two["applied"]),
            f"of {two['webhooks']}",
            ok=two["applied"] == two["webhooks"],
        ),
        row("small portals' webhook -> PostgreSQL p50", quantile(lat, 0.5), "s"),
        row(
            "small portals' webhook -> PostgreSQL p99",
            p99,
            "s",
            f"< {P99_TARGET_S:.0f} s",
            p99 < P99_TARGET_S,
        ),
        row(
            "big portal's contacts in PostgreSQL meanwhile",
            float(two["big_in_postgres_after_window"]),
            f"of {args.big}",
        ),
    ]
    extra.update(
        big_portal_contacts=args.big,
        webhook_seconds=args.seconds,
        webhook_p99_s=p99,
        backfill_still_running_after_window=two["backfill_still_running"],
        webhook_latency_by_send_time=[(round(at, 2), round(lat, 3)) for at, lat in two["timeline"]],
    )


if __name__ == "__main__":
    main()
