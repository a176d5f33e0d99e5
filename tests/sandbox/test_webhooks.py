"""Webhook delivery: real HTTP on loopback to a small aiohttp receiver (no mocks)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hubspot.utils.signature import Signature
from pydantic import SecretStr

from hubsync.hubspot_model.signatures import decode_v3_uri, verify_v3
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import ChangeEvent, Writer
from hubsync.sandbox.webhook_payloads import SUBSCRIPTION_IDS, subscription_id
from hubsync.sandbox.webhook_state import backoff_delay, retry_after_s
from hubsync.sandbox.webhooks import USER_AGENT, WebhookDispatcher, target_url, to_hubspot_json
from hubsync.testing import async_wait_for

SECRET = "3f0c9d52-77c1-4b7e-a0a2-1c9e5b8d2f61"
WRITER = Writer("INTEGRATION", "1160452")

#: (attempt index seen by the receiver for this batch, request) -> response status
Behaviour = Callable[[int, "Seen"], Awaitable[int]]


@dataclass
class Seen:
    """One request as the receiver saw it."""

    uri: str
    method: str
    headers: dict[str, str]
    body: bytes
    events: list[dict[str, Any]]
    status: int = 0
    reply_headers: dict[str, str] = field(default_factory=dict)
    received_at: float = field(default_factory=time.monotonic)


async def ok(_attempt: int, _seen: Seen) -> int:
    return 200


class Receiver:
    """An aiohttp server that records requests, counts concurrent ones and answers per a behaviour."""

    def __init__(self, behaviour: Behaviour = ok, path: str = "/webhooks/hubspot?portalId=62515") -> None:
        self.behaviour = behaviour
        self.path = path
        self.seen: list[Seen] = []
        self.current = 0
        self.max_concurrent = 0
        self._attempts: Counter[tuple[int, ...]] = Counter()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.current += 1
        self.max_concurrent = max(self.max_concurrent, self.current)
        try:
            body = await request.read()
            seen = Seen(
                uri=f"{request.scheme}://{request.host}{request.raw_path}",
                method=request.method,
                headers=dict(request.headers),
                body=body,
                events=json.loads(body),
            )
            self.seen.append(seen)
            batch_key = tuple(sorted(event["eventId"] for event in seen.events))
            attempt = self._attempts[batch_key]
            self._attempts[batch_key] += 1
            seen.status = await self.behaviour(attempt, seen)
            return web.Response(
                status=seen.status, text="{}", content_type="application/json", headers=seen.reply_headers
            )
        finally:
            self.current -= 1

    @property
    def delivered(self) -> list[Seen]:
        return [seen for seen in self.seen if 200 <= seen.status < 300]

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def config_for(url: str, **overrides: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "webhook_url": url,
        "webhook_secret": SecretStr(SECRET),
        "webhook_batch_size": 100,
        "webhook_max_concurrency": 10,
        "webhook_max_attempts": 3,
        "webhook_timeout_s": 2.0,
        "webhook_retry_base_s": 0.02,
        "webhook_retry_max_s": 0.1,
        "webhook_linger_s": 0.02,
        **overrides,
    }
    return SandboxConfig(**settings)


def property_changes(count: int, first_object_id: int = 1000) -> list[ChangeEvent]:
    return [
        ChangeEvent(
            object_type="contact",
            kind="propertyChange",
            object_id=first_object_id + index,
            occurred_at_ms=1_760_000_000_000 + index,
            writer=WRITER,
            property_name="lastname",
            property_value=f"Jürgen Ørsted №{index} ✓",
        )
        for index in range(count)
    ]


def run(coroutine: Awaitable[None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(60):
            await coroutine

    asyncio.run(bounded())


def dispatcher_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("webhook-")]


def event_ids(seen: list[Seen]) -> list[int]:
    return [event["eventId"] for request in seen for event in request.events]


# -- event objects -----------------------------------------------------------------------------


def as_json(event: ChangeEvent, attempt: int = 0) -> dict[str, Any]:
    return to_hubspot_json(event, event_id=77, attempt=attempt, portal_id=62515, app_id=1160452)


def base(subscription_type: str, object_id: int = 501, attempt: int = 0) -> dict[str, Any]:
    return {
        "eventId": 77,
        "subscriptionId": subscription_id(subscription_type),
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1_760_000_000_123,
        "subscriptionType": subscription_type,
        "attemptNumber": attempt,
        "objectId": object_id,
    }


def change(kind: Any, object_type: Any = "contact", **fields: Any) -> ChangeEvent:
    return ChangeEvent(
        object_type=object_type,
        kind=kind,
        object_id=501,
        occurred_at_ms=1_760_000_000_123,
        writer=WRITER,
        **fields,
    )


def test_creation_deletion_restore_privacy_deletion() -> None:
    for kind, flag in [
        ("creation", "CREATED"),
        ("deletion", "DELETED"),
        ("restore", "RESTORED"),
        ("privacyDeletion", "PRIVACY_DELETED"),
    ]:
        expected = base(f"contact.{kind}") | {
            "changeFlag": flag,
            "changeSource": "INTEGRATION",
            "sourceId": "1160452",
        }
        assert as_json(change(kind)) == expected
    ui_edit = ChangeEvent("company", "creation", 9, 1, Writer("CRM_UI", "userId:47812075"))
    assert as_json(ui_edit)["sourceId"] == "userId:47812075"
    assert as_json(ui_edit)["subscriptionType"] == "company.creation"
    assert "sourceId" not in as_json(ChangeEvent("company", "deletion", 9, 1, Writer("IMPORT")))


def test_property_change() -> None:
    event = change("propertyChange", "company", property_name="city", property_value="Zürich")
    assert as_json(event, attempt=3) == base("company.propertyChange", attempt=3) | {
        "changeSource": "INTEGRATION",
        "sourceId": "1160452",
        "propertyName": "city",
        "propertyValue": "Zürich",
    }
    cleared = change("propertyChange", property_name="phone", property_value=None)
    assert as_json(cleared)["propertyValue"] == ""
    assert "changeFlag" not in as_json(cleared)


def test_merge() -> None:
    event = change(
        "merge",
        primary_object_id=501,
        merged_object_ids=(502, 503),
        new_object_id=601,
        extra={"numberOfPropertiesMoved": "14"},
    )
    body = as_json(event)
    assert body["changeFlag"] == "MERGED"
    assert (body["primaryObjectId"], body["mergedObjectIds"], body["newObjectId"]) == (501, [502, 503], 601)
    assert body["numberOfPropertiesMoved"] == 14
    defaults = as_json(change("merge", merged_object_ids=(502,)))
    assert (defaults["primaryObjectId"], defaults["newObjectId"], defaults["numberOfPropertiesMoved"]) == (
        501,
        501,
        0,
    )


def test_association_change() -> None:
    added = change("associationChange", to_object_type="company", to_object_id=9001, association_type_id=1)
    assert as_json(added) == base("contact.associationChange") | {
        "changeSource": "INTEGRATION",
        "sourceId": "1160452",
        "associationType": "CONTACT_TO_COMPANY",
        "fromObjectId": 501,
        "toObjectId": 9001,
        "associationRemoved": False,
        "isPrimaryAssociation": True,
    }
    removed = change(
        "associationChange",
        "company",
        to_object_type="contact",
        to_object_id=7,
        association_removed=True,
        association_type_id=280,
    )
    body = as_json(removed)
    assert (body["associationType"], body["associationRemoved"], body["isPrimaryAssociation"]) == (
        "COMPANY_TO_CONTACT",
        True,
        False,
    )
    flagged = change("associationChange", to_object_id=3, extra={"isPrimaryAssociation": "true"})
    assert as_json(flagged)["isPrimaryAssociation"] is True


def test_extra_fields_never_override_computed_ones() -> None:
    body = as_json(change("creation", extra={"eventId": "1", "objectTypeId": "0-1"}))
    assert body["eventId"] == 77 and body["objectTypeId"] == "0-1"


def test_subscription_ids_are_stable_and_distinct() -> None:
    assert len(set(SUBSCRIPTION_IDS.values())) == len(SUBSCRIPTION_IDS) == 14
    assert subscription_id("contact.creation") == SUBSCRIPTION_IDS["contact.creation"]
    assert (
        subscription_id("deal.creation") == subscription_id("deal.creation") not in SUBSCRIPTION_IDS.values()
    )


# -- delivery --------------------------------------------------------------------------------


def test_flood_arrives_complete_in_batches_of_at_most_100() -> None:
    async def scenario() -> None:
        async with Receiver() as receiver:
            dispatcher = WebhookDispatcher(config_for(receiver.url))
            events = property_changes(1050)
            dispatcher.emit(events[:150])  # before start: kept until the dispatcher runs
            await dispatcher.start()
            rng, position = random.Random(7), 150
            while position < len(events):
                size = rng.choice([1, 3, 17, 100, 240])
                dispatcher.emit(events[position : position + size])
                position += size
                await asyncio.sleep(0)
            assert await dispatcher.wait_idle(20)
            await dispatcher.stop()

        assert all(len(request.events) <= 100 for request in receiver.seen)
        ids = event_ids(receiver.delivered)
        assert len(ids) == 1050 and len(set(ids)) == 1050  # every eventId exactly once
        assert sorted(e["objectId"] for r in receiver.delivered for e in r.events) == [
            e.object_id for e in events
        ]
        assert {e["attemptNumber"] for r in receiver.delivered for e in r.events} == {0}
        stats = dispatcher.stats()
        assert stats.emitted_events == stats.delivered_events == 1050
        assert stats.delivered_batches == len(receiver.seen) >= 11
        assert stats.failed_attempts == stats.dropped_events == stats.abandoned_events == 0
        assert stats.queued_events == stats.in_flight_requests == 0
        assert [attempt.event_ids for attempt in dispatcher.deliveries()].count(()) == 0

    run(scenario())


def test_requests_are_signed_and_verify_with_sdk_and_verify_v3() -> None:
    path = "/hooks/hub%3Aspot?portalId=62515&tag=a%2Fb&name=J%C3%BCrgen&sp=a%20b"

    async def scenario() -> None:
        async with Receiver(path=path) as receiver:
            dispatcher = WebhookDispatcher(config_for(receiver.url, webhook_batch_size=7))
            async with dispatcher:
                dispatcher.emit(property_changes(30))
                assert await dispatcher.wait_idle(10)

        assert len(receiver.seen) == 5
        for seen in receiver.seen:
            assert seen.uri == receiver.url  # sent byte for byte, escapes included
            headers = seen.headers
            timestamp, v3 = headers["X-HubSpot-Request-Timestamp"], headers["X-HubSpot-Signature-v3"]
            assert verify_v3(SECRET, seen.method, seen.uri, seen.body, timestamp, v3)
            text = seen.body.decode("utf-8")
            assert "Jürgen" in text  # UTF-8, not \\u escapes
            assert Signature.is_valid(
                signature=v3,
                client_secret=SECRET,
                request_body=text,
                http_uri=decode_v3_uri(seen.uri),
                http_method=seen.method,
                signature_version="v3",
                timestamp=timestamp,
            )
            assert headers["X-HubSpot-Signature-Version"] == "v1"
            assert Signature.is_valid(headers["X-HubSpot-Signature"], SECRET, text, signature_version="v1")
            assert not Signature.is_valid(
                headers["X-HubSpot-Signature"], "other", text, signature_version="v1"
            )
            assert headers["Content-Type"] == "application/json"
            assert headers["User-Agent"] == USER_AGENT
            assert abs(int(timestamp) - time.time() * 1000) < 60_000
            assert seen.method == "POST"

    run(scenario())


def test_concurrency_limit_is_respected() -> None:
    async def slow(_attempt: int, _seen: Seen) -> int:
        await asyncio.sleep(0.15)
        return 204

    async def scenario() -> None:
        async with Receiver(slow) as receiver:
            config = config_for(receiver.url, webhook_batch_size=10, webhook_max_concurrency=3)
            async with WebhookDispatcher(config) as dispatcher:
                dispatcher.emit(property_changes(120))
                await async_wait_for(
                    lambda: len(receiver.seen) >= 3, what="the first requests", interval=0.01
                )
                assert dispatcher.stats().in_flight_requests <= 3
                assert await dispatcher.wait_idle(20)
        assert receiver.max_concurrent == 3
        assert len(receiver.delivered) == 12
        assert len(set(event_ids(receiver.delivered))) == 120

    run(scenario())


def test_failed_attempts_are_retried_with_incremented_attempt_number() -> None:
    async def flaky(attempt: int, _seen: Seen) -> int:
        if attempt == 0:
            return 500
        if attempt == 1:
            await asyncio.sleep(3)  # longer than webhook_timeout_s: the client gives up
        return 200

    async def scenario() -> None:
        async with Receiver(flaky) as receiver:
            config = config_for(receiver.url, webhook_timeout_s=0.3, webhook_max_attempts=3)
            async with WebhookDispatcher(config) as dispatcher:
                dispatcher.emit(property_changes(40))
                assert await dispatcher.wait_idle(10)
                stats, log = dispatcher.stats(), dispatcher.deliveries()

        assert [{e["attemptNumber"] for e in seen.events} for seen in receiver.seen] == [{0}, {1}, {2}]
        assert len({tuple(event_ids([seen])) for seen in receiver.seen}) == 1  # same events, same ids
        assert len({seen.headers["X-HubSpot-Signature-v3"] for seen in receiver.seen}) == 3
        assert len({seen.headers["X-HubSpot-Signature"] for seen in receiver.seen}) == 3
        for seen in receiver.seen:
            headers = seen.headers
            assert verify_v3(
                SECRET,
                "POST",
                seen.uri,
                seen.body,
                headers["X-HubSpot-Request-Timestamp"],
                headers["X-HubSpot-Signature-v3"],
            )
        (delivered,) = receiver.delivered
        assert {event["attemptNumber"] for event in delivered.events} == {2}
        assert [(a.attempt, a.status) for a in log] == [(0, 500), (1, None), (2, 200)]
        assert log[1].error is not None and "timeout" in log[1].error
        assert stats.failed_attempts == 2 and stats.delivered_batches == 1 and stats.delivered_events == 40
        assert stats.dropped_batches == 0

    run(scenario())


def test_batch_is_dropped_after_max_attempts() -> None:
    async def broken(_attempt: int, _seen: Seen) -> int:
        return 503

    async def scenario() -> None:
        async with Receiver(broken) as receiver:
            config = config_for(receiver.url, webhook_max_attempts=4)
            async with WebhookDispatcher(config) as dispatcher:
                dispatcher.emit(property_changes(5))
                assert await dispatcher.wait_idle(10)
                await asyncio.sleep(0.3)  # nothing else comes
                stats = dispatcher.stats()
        assert [seen.events[0]["attemptNumber"] for seen in receiver.seen] == [0, 1, 2, 3]
        assert stats.failed_attempts == 4
        assert (stats.dropped_batches, stats.dropped_events, stats.delivered_events) == (1, 5, 0)

    run(scenario())


def test_connection_errors_fail_attempts() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        config = config_for(f"http://127.0.0.1:{port}/hook", webhook_max_attempts=2)
        async with WebhookDispatcher(config) as dispatcher:
            dispatcher.emit(property_changes(3))
            assert await dispatcher.wait_idle(10)
            stats, log = dispatcher.stats(), dispatcher.deliveries()
        assert (stats.failed_attempts, stats.dropped_batches, stats.dropped_events) == (2, 1, 3)
        assert all(a.status is None and a.error and "Connect" in a.error for a in log)

    run(scenario())


def test_retry_after_of_a_429_is_honoured() -> None:
    async def throttled(attempt: int, seen: Seen) -> int:
        if attempt == 0:
            seen.reply_headers["Retry-After"] = "30"
            return 429
        return 200

    async def scenario() -> None:
        async with Receiver(throttled) as receiver:
            # backoff alone would wait ~1 ms; Retry-After (30 s) applies, capped at retry_max_s
            config = config_for(receiver.url, webhook_retry_base_s=0.001, webhook_retry_max_s=0.5)
            async with WebhookDispatcher(config) as dispatcher:
                dispatcher.emit(property_changes(2))
                assert await dispatcher.wait_idle(10)
        first, second = receiver.seen
        assert (first.status, second.status) == (429, 200)
        # it waited for the Retry-After (not the ~1 ms backoff), capped at retry_max_s (not 30 s)
        assert 0.45 <= second.received_at - first.received_at < 30

    run(scenario())


# -- lifecycle -------------------------------------------------------------------------------


def test_stop_drains_what_is_queued() -> None:
    async def scenario() -> None:
        async with Receiver() as receiver:
            dispatcher = WebhookDispatcher(config_for(receiver.url, webhook_linger_s=1.0))
            await dispatcher.start()
            dispatcher.emit(property_changes(250))
            await dispatcher.stop(timeout_s=5)
            dispatcher.emit(property_changes(2))  # after stop: refused, never raised
            await dispatcher.stop()  # idempotent
            stats = dispatcher.stats()
        assert len(event_ids(receiver.delivered)) == 250
        assert (stats.delivered_events, stats.rejected_events, stats.abandoned_events) == (250, 2, 0)
        assert asyncio.all_tasks() == {asyncio.current_task()}  # receiver and dispatcher are gone

    run(scenario())


def test_stop_cancels_after_its_timeout() -> None:
    async def hanging(_attempt: int, _seen: Seen) -> int:
        await asyncio.sleep(30)
        return 200

    async def scenario() -> None:
        async with Receiver(hanging) as receiver:
            config = config_for(receiver.url, webhook_timeout_s=30, webhook_batch_size=10)
            dispatcher = WebhookDispatcher(config)
            await dispatcher.start()
            dispatcher.emit(property_changes(25))
            await async_wait_for(lambda: len(receiver.seen) >= 3, what="3 hanging requests", interval=0.01)
            started = time.monotonic()
            await dispatcher.stop(timeout_s=0.2)
            # it cancelled the requests rather than wait for them to time out (webhook_timeout_s)
            assert time.monotonic() - started < config.webhook_timeout_s
            stats = dispatcher.stats()
            assert (stats.abandoned_events, stats.delivered_events, stats.in_flight_requests) == (25, 0, 0)
            assert dispatcher_tasks() == []

    run(scenario())


def test_stop_without_drain_abandons_queued_events() -> None:
    async def scenario() -> None:
        dispatcher = WebhookDispatcher(config_for("http://127.0.0.1:9/hook", webhook_linger_s=5))
        await dispatcher.start()
        dispatcher.emit(property_changes(4))
        await dispatcher.stop(drain=False)
        assert dispatcher.stats().abandoned_events == 4
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario())


def test_an_unsendable_batch_is_dropped_and_delivery_goes_on() -> None:
    async def scenario() -> None:
        async with Receiver() as receiver, WebhookDispatcher(config_for(receiver.url)) as dispatcher:
            broken = change("propertyChange", property_name="firstname", property_value="\ud800")
            dispatcher.emit([broken])  # a lone surrogate cannot be encoded as UTF-8
            assert await dispatcher.wait_idle(10)
            dispatcher.emit(property_changes(3))
            assert await dispatcher.wait_idle(10)
            stats = dispatcher.stats()
        assert (stats.dropped_batches, stats.dropped_events, stats.delivered_events) == (1, 1, 3)
        assert len(receiver.seen) == 1

    run(scenario())


def test_emit_is_bounded_and_thread_safe() -> None:
    async def scenario() -> None:
        async with Receiver() as receiver:
            dispatcher = WebhookDispatcher(config_for(receiver.url), max_queue_events=5)
            dispatcher.emit(property_changes(8))  # not started: 5 kept, 3 refused
            assert (dispatcher.stats().queued_events, dispatcher.stats().rejected_events) == (5, 3)
            async with dispatcher:
                assert await dispatcher.wait_idle(10)  # the queue has room again
                thread = threading.Thread(target=dispatcher.emit, args=(property_changes(4, 5000),))
                thread.start()
                await asyncio.to_thread(thread.join)
                assert await dispatcher.wait_idle(10)
        assert len(event_ids(receiver.delivered)) == 9

    run(scenario())


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        WebhookDispatcher(SandboxConfig(webhook_secret=SecretStr(SECRET)))
    with pytest.raises(ValueError, match="webhook_secret"):
        WebhookDispatcher(SandboxConfig(webhook_url="http://127.0.0.1:1/h"))
    with pytest.raises(ValueError, match="absolute"):
        WebhookDispatcher(config_for("/relative"))
    with pytest.raises(ValueError, match="webhook_max_attempts"):
        WebhookDispatcher(config_for("http://127.0.0.1:1/h", webhook_max_attempts=0))


def test_target_url_keeps_escapes_and_encodes_the_rest() -> None:
    assert str(target_url("https://h.example/a%3Ab?c=%2F#frag")) == "https://h.example/a%3Ab?c=%2F"
    assert str(target_url("http://h.example/café ok?x=1")) == "http://h.example/caf%C3%A9%20ok?x=1"


# -- retry schedule --------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(1)
    for retry, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10.0), (500, 10.0)]:
        delays = [backoff_delay(retry, base_s=0.2, max_s=10.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 100  # jittered
    with pytest.raises(ValueError):
        backoff_delay(0, base_s=0.2, max_s=10.0, rng=rng)


def test_retry_after_parsing() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
