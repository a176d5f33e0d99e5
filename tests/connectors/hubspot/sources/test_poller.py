"""The poller, backfills and manual pulls against the sandbox, real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.sources.backfill import Backfill
from hubsync.connectors.hubspot.sources.cursors import CursorStore
from hubsync.connectors.hubspot.sources.poller import IncrementalPoller, PollerConfig
from hubsync.connectors.hubspot.sources.publish import ChangeEventPublisher
from hubsync.connectors.hubspot.sources.pull import pull_ids
from hubsync.connectors.hubspot.sources.record_events import read_properties
from hubsync.errors import RetriableError
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import Writer
from hubsync.sandbox.server import ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from hubsync.storage.pool import open_async_pool
from hubsync.streams.admin import ensure_change_topics
from hubsync.streams.producer import AsyncKafkaPublisher
from tests.connectors.hubspot.webhooks.test_webhook_harness import PARTITIONS, TopicReader, now_ms

pytestmark = pytest.mark.integration

TOKEN = "pat-poller"
T0 = 1_790_000_000_000
PROPS = {"contacts": read_properties("contacts", ["jobtitle"]), "companies": read_properties("companies", [])}


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    config = SandboxConfig(access_token=SecretStr(TOKEN), burst_limit=1_000_000, search_per_second=10_000)
    with ThreadedSandbox(config) as box:
        yield box


@dataclass
class World:
    settings: Settings
    sandbox: ThreadedSandbox
    database_url: str

    def reader(self, role: str = "hubspot_contacts") -> TopicReader:
        """A reader of the contacts' change topic (``hubspot_contacts_backfill``: the backfill lane)."""
        repo = SchemaRepository()
        codec = SingleObjectCodec(repo)
        topic = getattr(self.settings.topics, role)
        schema = repo.current("hubspot_change_event")
        return TopicReader(
            self.settings.kafka_bootstrap_servers or "", topic, lambda b: codec.decode(topic, schema, b)
        )

    def load_contacts(self, n: int, *, spread_ms: int = 1000) -> list[int]:
        rows = [
            {
                "email": f"p{i}-{uuid.uuid4().hex[:6]}@poll.example",
                "createdate": str(T0 - 60_000),
                "lastmodifieddate": str(T0 + (i * spread_ms) // max(1, n)),
            }
            for i in range(n)
        ]
        return self.sandbox.state.store.load("contact", rows, Writer("IMPORT"))


@pytest.fixture
def world(sandbox: ThreadedSandbox, kafka_bootstrap_servers: str, fresh_database_url: str) -> World:
    prefix = f"p{uuid.uuid4().hex[:8]}."
    topics = TopicNames(**{role: prefix + name for role, name in TopicNames().model_dump().items()})
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, topics=topics, topic_partitions=PARTITIONS
    )
    ensure_change_topics(settings)
    migrate(fresh_database_url)
    return World(settings, sandbox, fresh_database_url)


@dataclass
class Parts:
    client: HubSpotClient
    cursors: CursorStore
    publisher: ChangeEventPublisher


@asynccontextmanager
async def parts(world: World) -> AsyncIterator[Parts]:
    config = HubSpotClientConfig(
        access_token=SecretStr(TOKEN),
        base_url=world.sandbox.base_url,
        burst_limit=100_000,
        search_per_second=10_000,
    )
    pool = await open_async_pool(world.database_url)
    kafka = AsyncKafkaPublisher(
        world.settings.kafka_bootstrap_servers or "", SingleObjectCodec(SchemaRepository())
    )
    await kafka.start()
    try:
        async with HubSpotClient(config) as client:
            yield Parts(
                client, CursorStore(pool), ChangeEventPublisher(kafka, world.settings.topics, source="test")
            )
    finally:
        await kafka.close()
        await pool.close()


def clock_at(ms: int) -> Any:
    return lambda: ms / 1000


def keys_of(values: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(v["event_id"]) for v in values]


def test_poll_publishes_each_change_once_and_resumes(world: World) -> None:
    ids = world.load_contacts(450)
    reader = world.reader()
    now = T0 + 10 * 60_000

    async def run() -> tuple[int, int, int]:
        async with parts(world) as p:
            poller = IncrementalPoller(p.client, p.publisher, p.cursors, PROPS, clock=clock_at(now))
            first = await poller.poll_once("contacts")
            again = await poller.poll_once("contacts")  # nothing new
            # a person edits one contact in HubSpot: only that one is published next time
            world.sandbox.state.store.update(
                "contact", ids[7], {"jobtitle": "CFO"}, Writer("CRM_UI", "userId:1")
            )
            later = IncrementalPoller(
                p.client,
                p.publisher,
                p.cursors,
                PROPS,
                clock=clock_at(now_ms() + 10_000),
            )
            third = await later.poll_once("contacts")
            return first.published, again.published, third.published

    first, again, third = asyncio.run(run())
    assert (first, again, third) == (450, 0, 1)
    values = [v for _, v in reader.drain()]
    assert len(values) == 451 and len(set(keys_of(values))) == 451
    assert {v["source"] for v in values} == {"POLLER"}
    # partitions interleave, so look the update up rather than expecting it last
    edited = [v for v in values if v["properties"].get("jobtitle") == "CFO"]
    assert [v["object_id"] for v in edited] == [str(ids[7])]
    reader.close()


class FailingAfter:
    """Publishes through ``inner`` and fails (like a broker outage) after ``pages`` pages."""

    def __init__(self, inner: ChangeEventPublisher, pages: int) -> None:
        self.inner = inner
        self.pages = pages

    async def publish(self, role: str, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if self.pages == 0:
            raise RetriableError("broker unavailable")
        self.pages -= 1
        await self.inner.publish(role, messages)


def test_a_poller_killed_mid_run_resumes_from_its_cursor_with_nothing_lost(world: World) -> None:
    world.load_contacts(1_000)
    reader = world.reader()
    now = T0 + 10 * 60_000

    async def run() -> None:
        async with parts(world) as p:
            broken = IncrementalPoller(
                p.client, FailingAfter(p.publisher, 2), p.cursors, PROPS, clock=clock_at(now)
            )
            with pytest.raises(RetriableError):
                await broken.poll_once("contacts")
            resumed = IncrementalPoller(p.client, p.publisher, p.cursors, PROPS, clock=clock_at(now))
            await resumed.poll_once("contacts")

    asyncio.run(run())
    values = [v for _, v in reader.drain()]
    ids = {v["object_id"] for v in values}
    assert len(ids) == 1_000  # nothing lost
    assert len(values) <= 1_000 + 200  # at most one page published twice
    reader.close()


def test_more_than_ten_thousand_changes_in_one_window_all_arrive(world: World) -> None:
    world.load_contacts(10_400, spread_ms=500)
    reader = world.reader()

    async def run() -> int:
        async with parts(world) as p:
            poller = IncrementalPoller(p.client, p.publisher, p.cursors, PROPS, clock=clock_at(T0 + 60_000))
            return (await poller.poll_once("contacts")).published

    assert asyncio.run(run()) == 10_400
    assert len({v["object_id"] for _, v in reader.drain(timeout=60)}) == 10_400
    reader.close()


def test_backfill_reads_active_archived_and_merged_records_and_resumes(world: World) -> None:
    ids = world.load_contacts(350)
    store = world.sandbox.state.store
    ui = Writer("CRM_UI", "userId:1")
    store.archive("contact", ids[0], ui)
    store.merge("contact", ids[1], ids[2], ui)
    reader = world.reader("hubspot_contacts_backfill")  # full reads go to the backfill lane

    async def run() -> tuple[int, bool, dict[str, Any] | None]:
        async with parts(world) as p:
            # a cursor saved after every page (the default is every 20 pages or second)
            broken = Backfill(p.client, FailingAfter(p.publisher, 1), p.cursors, PROPS, checkpoint_pages=1)
            with pytest.raises(RetriableError):
                await broken.run("contacts")
            result = await Backfill(p.client, p.publisher, p.cursors, PROPS).run("contacts")
            poller_cursor = await p.cursors.load(PollerConfig().connector, "contact")
            return result.records, result.resumed, poller_cursor

    records, resumed, poller_cursor = asyncio.run(run())
    # 350 - 1 archived - 1 merged away = 348 active; resumed after the first page, + the archived one
    assert resumed and records == 348 - 100 + 1
    assert poller_cursor is not None  # the incremental poller takes over from the backfill's start
    values = [v for _, v in reader.drain()]
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for v in values:
        by_type.setdefault(str(v["change_type"]), []).append(v)
    assert {v["object_id"] for v in by_type["SNAPSHOT"]} | {str(ids[0])} == {
        str(i) for i in ids if i != ids[2]
    }
    assert [v["object_id"] for v in by_type["DELETION"]] == [str(ids[0])]
    merge = by_type["MERGE"][0]["merge"]
    assert merge["primary_object_id"] == str(ids[1]) and merge["merged_object_ids"] == [str(ids[2])]
    assert {v["source"] for v in values} == {"BACKFILL"}
    reader.close()


def test_pull_given_ids_reports_unknown_ones(world: World) -> None:
    ids = world.load_contacts(5)
    world.sandbox.state.store.archive("contact", ids[4], Writer("CRM_UI", "userId:1"))
    reader = world.reader()

    async def run() -> Any:
        async with parts(world) as p:
            wanted = [str(ids[0]), str(ids[1]), str(ids[4]), "999999999"]
            return await pull_ids(p.client, p.publisher, "contacts", wanted, PROPS["contacts"])

    result = asyncio.run(run())
    assert result.records == 3
    assert [m[0] for m in result.missing] == ["999999999"]
    values = [v for _, v in reader.drain()]
    assert sorted(v["change_type"] for v in values) == ["DELETION", "SNAPSHOT", "SNAPSHOT"]
    assert {v["source"] for v in values} == {"MANUAL_PULL"}
    reader.close()
