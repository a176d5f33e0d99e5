"""The webhook receiver over HTTP, on real Kafka and PostgreSQL: signatures, bad input, dedupe,
ordering, metrics."""

from __future__ import annotations

import concurrent.futures
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hubspot.utils.signature import Signature

from hubsync.connectors.hubspot.sources.change_events import event_key
from hubsync.connectors.hubspot.webhooks.receiver import TokenBucket
from hubsync.hubspot_model.signatures import (
    HEADER_SIGNATURE,
    HEADER_SIGNATURE_V3,
    HEADER_SIGNATURE_VERSION,
    HEADER_TIMESTAMP,
    sign_v1,
    sign_v2,
    sign_v3,
)
from tests.connectors.hubspot.webhooks.test_webhook_harness import (
    SECRET,
    Harness,
    event,
    now_ms,
    running_receiver,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(kafka_bootstrap_servers: str, database_url: str) -> Iterator[Harness]:
    with running_receiver(kafka_bootstrap_servers, database_url, max_body_bytes=256 * 1024) as harness:
        yield harness


def ids_of(values: list[dict[str, Any]]) -> list[str]:
    return [v["object_id"] for v in values]


def test_batch_is_published_keyed_by_portal_and_object_id(hub: Harness) -> None:
    contact = event("contact.propertyChange", propertyName="firstname", propertyValue="Zoë")
    company = event("company.creation", changeSource="INTEGRATION", sourceId="1160452")
    response = hub.post([contact, company])
    assert response.status_code == 200, response.text
    assert response.json()["published"] == 2
    [(key, value)] = [
        kv for kv in hub.readers["hubspot_contacts"].drain() if kv[1]["object_id"] == str(contact["objectId"])
    ]
    assert key == f"{contact['portalId']}:{contact['objectId']}"  # partitions spread portals
    assert value["change_type"] == "PROPERTY_CHANGE"
    assert value["properties"] == {"firstname": "Zoë"}
    assert value["partial"] is True
    assert value["event_id"] == event_key(contact).hex()
    companies = [v for v in hub.events("hubspot_companies") if v["object_id"] == str(company["objectId"])]
    assert [(v["change_type"], v["change_source"], v["source_id"]) for v in companies] == [
        ("CREATION", "INTEGRATION", "1160452")
    ]


def test_sdk_signature_verifies(hub: Harness) -> None:
    body = json.dumps([event()]).encode()
    ts = str(now_ms())
    signature = Signature.get_signature(SECRET, body.decode(), "v3", hub.url, "POST", ts)
    response = hub.post(body, sign=False, headers={HEADER_SIGNATURE_V3: signature, HEADER_TIMESTAMP: ts})
    assert response.status_code == 200, response.text
    # and our answer to a request HubSpot's SDK accepts is the SDK's own verdict
    assert Signature.is_valid(signature, SECRET, body.decode(), hub.url, "POST", "v3", ts)


@pytest.mark.parametrize(
    ("change", "outcome", "detail"),
    [
        ({"tamper": True}, "invalid_signature", "does not match"),
        ({"secret": "another-secret"}, "invalid_signature", "does not match"),
        ({"timestamp_ms": now_ms() - 301_000}, "stale", "old"),
        ({"timestamp_ms": now_ms() + 3_600_000}, "stale", "future"),
        ({"sign": False}, "invalid_signature", "missing"),
        ({"headers": {HEADER_TIMESTAMP: ""}}, "invalid_signature", "missing"),
        ({"headers": {HEADER_TIMESTAMP: "yesterday"}}, "invalid_signature", "Unix milliseconds"),
    ],
)
def test_bad_signatures_are_401(hub: Harness, change: dict[str, Any], outcome: str, detail: str) -> None:
    body = json.dumps([event()]).encode()
    before = hub.metric("hubsync_webhook_requests_total", outcome=outcome)
    if change.pop("tamper", False):
        ts = now_ms()
        headers = {HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE_V3: sign_v3(SECRET, "POST", hub.url, body, ts)}
        response = hub.post(body.replace(b"contact", b"company"), sign=False, headers=headers)
    else:
        response = hub.post(body, **change)
    assert response.status_code == 401
    assert response.json()["error"] == outcome
    assert detail in response.json()["detail"]
    assert SECRET not in response.text
    assert hub.metric("hubsync_webhook_requests_total", outcome=outcome) == before + 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_valid_v1_or_v2_signature_alone_is_refused(hub: Harness, version: str) -> None:
    """v1 and v2 signatures carry no timestamp, so a captured request could be replayed forever:
    only v3 (with its 5-minute window) is accepted."""
    body = json.dumps([event()]).encode()
    signature = sign_v1(SECRET, body) if version == "v1" else sign_v2(SECRET, "POST", hub.url, body)
    headers = {HEADER_SIGNATURE: signature, HEADER_SIGNATURE_VERSION: version}
    response = hub.post(body, sign=False, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_signature"


def test_signature_covers_the_public_url(kafka_bootstrap_servers: str, database_url: str) -> None:
    public = "https://hooks.example.com/base"
    with running_receiver(kafka_bootstrap_servers, database_url, public_base_url=public + "/") as harness:
        body = json.dumps([event()]).encode()
        ts = now_ms()
        own_url = harness.post(body, timestamp_ms=ts)
        assert own_url.status_code == 401
        signed = sign_v3(SECRET, "POST", public + "/webhooks/hubspot?x=%3A1", body, ts)
        response = harness.client.post(
            harness.url + "?x=%3A1",
            content=body,
            headers={HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE_V3: signed},
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[{", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"eventId": 1}', "expected an array"),
        (json.dumps([{}] * 101).encode(), "at most 100"),
    ],
)
def test_malformed_bodies_are_400(hub: Harness, body: bytes, detail: str) -> None:
    response = hub.post(body)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert detail in response.json()["detail"]


def test_oversized_bodies_are_413(hub: Harness) -> None:
    big = json.dumps([event(propertyName="notes", propertyValue="x" * 300_000)]).encode()
    assert hub.post(big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while reading
        for _ in range(40):
            yield b" " * 10_000

    response = hub.client.post(hub.url, content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(hub: Harness, method: str) -> None:
    response = hub.client.request(method, hub.url)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_unknown_and_invalid_events_are_skipped_not_fatal(hub: Harness) -> None:
    good = event("contact.deletion")
    batch = [
        event("deal.creation"),
        event("contact.someFutureKind"),
        {"subscriptionType": "contact.creation"},
        "not an object",
        event("contact.creation", propertyValue="\ud800", occurredAt="x"),
        good,
    ]
    before = hub.metric("hubsync_webhook_events_total", outcome="unknown_type")
    response = hub.post(batch)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["received"], answer["published"], answer["skipped"]) == (6, 1, 5)
    assert any("deal.creation" in reason for reason in answer["skip_reasons"])
    assert hub.metric("hubsync_webhook_events_total", outcome="unknown_type") == before + 2
    assert [
        v["change_type"] for v in hub.events("hubspot_contacts") if v["object_id"] == str(good["objectId"])
    ] == ["DELETION"]


def test_same_batch_twice_is_published_once(hub: Harness) -> None:
    batch = [event("contact.propertyChange", propertyName="city", propertyValue=str(i)) for i in range(50)]
    assert hub.post(batch).json()["published"] == 50
    retry = [{**e, "attemptNumber": 1} for e in batch]
    again = hub.post(retry)
    assert again.status_code == 200
    assert (again.json()["published"], again.json()["duplicates"]) == (0, 50)
    wanted = {str(e["objectId"]) for e in batch}
    assert len([v for v in hub.events("hubspot_contacts") if v["object_id"] in wanted]) == 50
    with psycopg.connect(hub.database_url) as conn:
        keys = [event_key(e) for e in batch]
        row = conn.execute(
            "SELECT count(*) FROM hubsync.webhook_dedupe WHERE event_key = ANY(%s)", (keys,)
        ).fetchone()
        assert row == (50,)


def test_concurrent_duplicate_deliveries_publish_once(hub: Harness) -> None:
    batch = [event("company.propertyChange", propertyName="name", propertyValue="Acme")]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: hub_post(hub, batch), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert sum(r.json()["published"] for r in responses) == 1
    oid = str(batch[0]["objectId"])
    assert len([v for v in hub.events("hubspot_companies") if v["object_id"] == oid]) == 1


def hub_post(hub: Harness, batch: list[dict[str, Any]]) -> httpx.Response:
    body = json.dumps(batch).encode()
    ts = now_ms()
    headers = {HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE_V3: sign_v3(SECRET, "POST", hub.url, body, ts)}
    return httpx.post(hub.url, content=body, headers=headers, timeout=30)


def test_same_event_id_for_different_objects_is_not_a_duplicate(hub: Harness) -> None:
    first = event("contact.creation", eventId=777)
    second = event("contact.creation", eventId=777, occurredAt=first["occurredAt"])
    assert hub.post([first]).json()["published"] == 1
    assert hub.post([second]).json()["published"] == 1
    assert hub.post([first, second]).json()["duplicates"] == 2


def test_out_of_order_deliveries_are_all_published(hub: Harness) -> None:
    object_id = event()["objectId"]
    start = now_ms() - 60_000
    changes = [
        event(
            "contact.propertyChange",
            objectId=object_id,
            occurredAt=start + i,
            propertyName="lastname",
            propertyValue=f"v{i}",
        )
        for i in range(20)
    ]
    random.Random(7).shuffle(changes)
    for i in range(0, 20, 5):
        assert hub.post(changes[i : i + 5]).status_code == 200
    values = [v for v in hub.events("hubspot_contacts") if v["object_id"] == str(object_id)]
    assert len(values) == 20
    # one key, so one partition, in arrival order; consumers order by occurred_at
    newest = max(values, key=lambda v: v["occurred_at"])
    assert newest["properties"] == {"lastname": "v19"}


def test_metrics_are_recorded_per_request(hub: Harness) -> None:
    before_requests = hub.metric("hubsync_webhook_requests_total", outcome="accepted")
    before_acks = hub.metric("hubsync_webhook_ack_seconds_count")
    topic = hub.settings.topics.hubspot_contacts
    before_published = hub.metric("hubsync_events_published_total", topic=topic, source="webhook")
    assert hub.post([event() for _ in range(100)]).status_code == 200
    assert hub.metric("hubsync_webhook_requests_total", outcome="accepted") == before_requests + 1
    assert hub.metric("hubsync_webhook_ack_seconds_count") == before_acks + 1
    assert (
        hub.metric("hubsync_events_published_total", topic=topic, source="webhook") == before_published + 100
    )


def test_events_of_a_portal_this_deployment_does_not_sync_are_skipped(
    kafka_bootstrap_servers: str, database_url: str
) -> None:
    """A public app's webhooks come from every portal that installed it: only the deployment's
    portal is published, the others are answered 200 and counted, never applied."""
    with running_receiver(kafka_bootstrap_servers, database_url, settings={"portal_id": 62515}) as harness:
        ours = event("contact.creation")
        theirs = event("contact.creation", portalId=777001)
        response = harness.post([ours, theirs])
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["published"], answer["skipped"]) == (1, 1)
        assert "portal 777001 is not synced by this deployment" in answer["skip_reasons"][0]
        published = list(harness.events("hubspot_contacts"))
        assert {v["object_id"] for v in published} == {str(ours["objectId"])}
        assert {v["portal_id"] for v in published} == {62515}


def test_requests_beyond_the_rate_bound_get_429_with_retry_after_and_are_not_read(
    kafka_bootstrap_servers: str, database_url: str
) -> None:
    """A flood (signed or not) is answered 429 before its body is read or its signature checked;
    HubSpot honours Retry-After and sends the batch again."""
    with running_receiver(kafka_bootstrap_servers, database_url, max_requests_per_s=1.0, burst=3) as harness:
        answers = [harness.post([event(objectId=1000 + i)]) for i in range(6)]
        statuses = [a.status_code for a in answers]
        assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {429}, statuses
        assert all(a.headers["Retry-After"] == "1" for a in answers[3:])
        assert harness.metric("hubsync_webhook_requests_total", outcome="rate_limited") == 3
        time.sleep(1.1)  # one token back: the retry is served
        assert harness.post([event(objectId=1003)]).status_code == 200


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 2, clock=lambda: now[0])
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 10.0  # long idle: at most the burst is saved up
    assert [bucket.take(), bucket.take()] == [0.0, 0.0] and bucket.take() > 0
    assert TokenBucket(0, 1).take() == 0.0  # unbounded
