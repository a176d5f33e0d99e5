"""Shared helpers for the webhook receiver tests (no tests here): a receiver on real Kafka and
PostgreSQL with its own topics and database, signed requests, and a reader of the change topics."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.webhooks.receiver import WebhookReceiverConfig
from hubsync.connectors.hubspot.webhooks.service import ThreadedWebhookReceiver
from hubsync.hubspot_model.signatures import HEADER_SIGNATURE_V3, HEADER_TIMESTAMP, sign_v3
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import Settings, TopicNames
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.testing import fresh_database, wait_for

SECRET = "8f0e3b2a-webhook-secret-4c1d"
PARTITIONS = 3


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_ids = iter(range(int(time.time()) % 1_000_000 * 1000, 2**62))


def next_id() -> int:
    """An object id no other test of the session uses."""
    return next(_ids)


def event(subscription_type: str = "contact.creation", **fields: Any) -> dict[str, Any]:
    object_id = fields.pop("objectId", None) or next_id()
    body = {
        "eventId": next_id(),
        "subscriptionId": 4100101,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": now_ms() - 1000,
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
    body.update(fields)
    return body


class TopicReader:
    """Reads a topic from the beginning; :meth:`drain` returns everything up to the current end."""

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[bytes], dict[str, Any]]) -> None:
        self.topic = topic
        self.decode = decode
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}"})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        self.values: list[tuple[str, dict[str, Any]]] = []

    def drain(self, timeout: float = 15.0) -> list[tuple[str, dict[str, Any]]]:
        """All (key, value) pairs up to the high watermarks of now: complete for whatever was
        acknowledged before the call."""
        high = {
            p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5)[1]
            for p in range(PARTITIONS)
        }
        positions: dict[int, int] = {}

        def caught_up() -> bool:
            positions.update(
                (tp.partition, tp.offset)
                for tp in self.consumer.position([TopicPartition(self.topic, p) for p in range(PARTITIONS)])
            )
            if all(high[p] == 0 or positions.get(p, -1) >= high[p] for p in range(PARTITIONS)):
                return True
            message = self.consumer.poll(0.1)
            if message is not None and message.error() is None:
                self.values.append((message.key().decode(), self.decode(message.value())))
            return False

        wait_for(
            caught_up,
            timeout=timeout,
            interval=0,  # poll() waits by itself
            what=lambda: f"{self.topic} to catch up with {high} (at {positions})",
        )
        return list(self.values)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """The values read so far, once ``predicate`` holds for them."""

        def satisfied() -> tuple[list[dict[str, Any]]] | None:
            values = [value for _, value in self.drain()]
            return (values,) if predicate(values) else None

        (values,) = wait_for(
            satisfied,
            timeout=timeout,
            interval=0.1,
            what=lambda: f"{self.topic}: the condition ({len(self.values)} values seen)",
        )
        return values

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Harness:
    settings: Settings
    receiver: ThreadedWebhookReceiver
    registry: CollectorRegistry
    database_url: str
    readers: dict[str, TopicReader] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def url(self) -> str:
        return self.receiver.url

    def post(
        self,
        payload: bytes | list[Any] | Mapping[str, Any],
        *,
        sign: bool = True,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        secret: str = SECRET,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent: dict[str, str] = {"Content-Type": "application/json"}
        if sign:
            ts = now_ms() if timestamp_ms is None else timestamp_ms
            sent[HEADER_TIMESTAMP] = str(ts)
            sent[HEADER_SIGNATURE_V3] = sign_v3(secret, method, self.url, body, ts)
        sent.update(headers or {})
        return self.client.request(method, self.url, content=body, headers=sent)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def events(self, role: str) -> list[dict[str, Any]]:
        return [value for _, value in self.readers[role].drain()]

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.client.close()


@contextlib.contextmanager
def running_receiver(
    bootstrap: str,
    database_url: str,
    *,
    port: int = 0,
    settings: Mapping[str, Any] | None = None,
    **config: Any,
) -> Iterator[Harness]:
    """A receiver with fresh topics and a fresh, migrated database; ``settings`` adds settings
    (e.g. a HubSpot token and base URL for the record fetcher)."""
    uid = uuid.uuid4().hex[:10]
    with fresh_database(database_url) as url:
        migrate(url)
        with psycopg.connect(url) as conn:
            seed_defaults(conn, load_defaults())  # the field mappings, as `hubsync db migrate` loads them
        settings = Settings(
            kafka_bootstrap_servers=bootstrap,
            database_url=SecretStr(url),
            hubspot_webhook_secret=SecretStr(SECRET),
            topics=TopicNames(
                hubspot_contacts=f"test.{uid}.contacts.changes",
                hubspot_companies=f"test.{uid}.companies.changes",
            ),
            topic_partitions=PARTITIONS,
            **(settings or {}),
        )
        registry = CollectorRegistry()
        receiver_config = WebhookReceiverConfig.from_settings(settings, **config)
        with ThreadedWebhookReceiver(
            settings, receiver_config, ConnectorMetrics.create(registry), port=port
        ) as receiver:
            repo = SchemaRepository()
            codec = SingleObjectCodec(repo)
            schema = repo.current("hubspot_change_event")
            harness = Harness(settings, receiver, registry, url)
            for role in ("hubspot_contacts", "hubspot_companies"):
                topic = getattr(settings.topics, role)
                harness.readers[role] = TopicReader(
                    bootstrap, topic, lambda raw, topic=topic: codec.decode(topic, schema, raw)
                )
            try:
                yield harness
            finally:
                harness.close()
