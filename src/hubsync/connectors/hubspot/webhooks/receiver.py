"""The HubSpot webhook receiver: an aiohttp app that verifies, parses and publishes webhook
batches, answering 2xx only once Kafka acknowledged them (SPEC section 4).

Checks, in order, each with its own status and a JSON error body ``{"error", "detail"}``:

=====================================================  ======  ==================================
wrong method                                            405     ``method_not_allowed``
body over ``max_body_bytes`` (Content-Length or read)   413     ``too_large``
bad / missing v3 signature, timestamp not fresh         401     ``invalid_signature`` / ``stale``
not JSON, not an array, more than ``max_events``        400     ``malformed``
Kafka or PostgreSQL failing or too slow                 503     ``unavailable`` (HubSpot retries)
=====================================================  ======  ==================================

The signature is checked before the body is parsed, so unauthenticated garbage gets a 401.
Unknown subscription types and malformed single events are skipped and counted; the rest of the
batch is published (see :mod:`~hubsync.connectors.hubspot.webhooks.parse`). Error details never
contain the secret or the expected signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import SecretStr

from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.connectors.hubspot.webhooks import DEFAULT_PATH
from hubsync.connectors.hubspot.webhooks.event_keys import WebhookDedupe
from hubsync.connectors.hubspot.webhooks.parse import MAX_EVENTS, BadBatchError, parse_batch
from hubsync.connectors.hubspot.webhooks.publishing import WebhookIngestor
from hubsync.connectors.hubspot.webhooks.record_fetcher import WebhookRecordFetcher
from hubsync.errors import HubsyncError
from hubsync.hubspot_model.signatures import (
    HEADER_SIGNATURE_V3,
    HEADER_TIMESTAMP,
    MAX_AGE_S,
    SignatureFailure,
    verify_v3,
)
from hubsync.metrics import ConnectorMetrics
from hubsync.settings import Settings, TopicNames
from hubsync.streams.producer import AsyncKafkaPublisher

log = logging.getLogger(__name__)

SCHEMA_STEM = "hubspot_change_event"
HEADER_TIMEOUT = "X-HubSpot-Timeout-Millis"
_STALE = {SignatureFailure.STALE_TIMESTAMP, SignatureFailure.FUTURE_TIMESTAMP}


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`take` spends one or says how
    long until one is there. ``rate`` 0 or less: unlimited."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self._tokens = float(self.burst)
        self._at = clock()

    def take(self) -> float:
        """0 when a token was spent, else the seconds until one is available (none spent)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


@dataclass(frozen=True, slots=True)
class WebhookReceiverConfig:
    secret: SecretStr
    topics: TopicNames = field(default_factory=TopicNames)
    path: str = DEFAULT_PATH
    #: the URL HubSpot calls when a proxy sits in front (``https://hooks.example.com``): signatures
    #: are checked against it + the request's path and query instead of the request's own URL
    public_base_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    #: requests per second this receiver serves, on average (a burst of ``burst`` more is allowed);
    #: beyond it, 429 with Retry-After (HubSpot retries later). HubSpot sends at most 10 requests
    #: at once per account; this bounds what anyone else can make the receiver do.
    max_requests_per_s: float = 200.0
    burst: int = 100
    max_events: int = MAX_EVENTS
    max_age_s: float = MAX_AGE_S
    #: the longest a request waits for Kafka; shortened to fit HubSpot's X-HubSpot-Timeout-Millis
    publish_timeout_s: float = 4.0
    dedupe_retention: timedelta = timedelta(days=3)
    #: read full records after creations and identity changes (needs HUBSPOT_ACCESS_TOKEN;
    #: see :mod:`~hubsync.connectors.hubspot.webhooks.record_fetcher`)
    fetch_records: bool = True
    purge_interval_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WebhookReceiverConfig:
        secret = settings.hubspot_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ValueError("HUBSPOT_WEBHOOK_SECRET is not set")
        overrides.setdefault("max_requests_per_s", settings.webhook_max_requests_per_s)
        return cls(secret=secret, topics=settings.topics, **overrides)


def signed_uri(request: web.Request, public_base_url: str | None) -> str:
    """The URI HubSpot signed: the public base URL, or this request's scheme and Host, followed
    by the path and query exactly as received (still percent-encoded)."""
    if public_base_url:
        return public_base_url.rstrip("/") + request.raw_path
    return f"{request.scheme}://{request.host}{request.raw_path}"


def _error(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers or None)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _publish_timeout(request: web.Request, configured: float) -> float:
    """Answer within HubSpot's own timeout when it says what it is (minus a margin)."""
    raw = request.headers.get(HEADER_TIMEOUT, "")
    if raw.isascii() and raw.isdigit() and len(raw) < 10:
        return max(0.5, min(configured, int(raw) / 1000 - 0.5))
    return configured


class PortalGate(Protocol):
    """The portals whose webhook events this deployment accepts (read again every few seconds)."""

    async def accepted(self) -> frozenset[int]: ...


class WebhookHandler:
    """The request handler; one per app."""

    def __init__(
        self,
        config: WebhookReceiverConfig,
        ingestor: WebhookIngestor,
        encode: Callable[[str, dict[str, Any]], bytes],
        metrics: ConnectorMetrics,
        fetcher: WebhookRecordFetcher | None = None,
        portals: PortalGate | None = None,
    ) -> None:
        self.config = config
        self.portals = portals
        self.ingestor = ingestor
        self.encode = encode
        self.metrics = metrics
        self.fetcher = fetcher
        self._secret = config.secret.get_secret_value()
        self._bucket = TokenBucket(config.max_requests_per_s, config.burst)

    def _refuse(self, outcome: str, status: int, detail: str, **headers: str) -> web.Response:
        self.metrics.webhook_requests.labels(outcome).inc()
        return _error(status, outcome, detail, **headers)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        received_at_ms = time.time_ns() // 1_000_000
        cfg = self.config
        wait_s = self._bucket.take()
        if wait_s > 0:
            retry = str(max(1, math.ceil(wait_s)))
            return self._refuse(
                "rate_limited", 429, "too many requests: retry later", **{"Retry-After": retry}
            )
        if request.method != "POST":
            return self._refuse("method_not_allowed", 405, "only POST is accepted", Allow="POST")
        too_large = f"body is larger than {cfg.max_body_bytes} bytes"
        if request.content_length is not None and request.content_length > cfg.max_body_bytes:
            return self._refuse("too_large", 413, too_large)
        try:
            body = await _read_limited(request, cfg.max_body_bytes)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            aiohttp.ClientPayloadError,
            HttpProcessingError,
            web.HTTPException,
            ValueError,
        ) as exc:
            return self._refuse("malformed", 400, f"body could not be read: {type(exc).__name__}")
        if body is None:
            return self._refuse("too_large", 413, too_large)
        check = verify_v3(
            self._secret,
            request.method,
            signed_uri(request, cfg.public_base_url),
            body,
            request.headers.get(HEADER_TIMESTAMP),
            request.headers.get(HEADER_SIGNATURE_V3),
            max_age_s=cfg.max_age_s,
        )
        if not check.ok:
            outcome = "stale" if check.failure in _STALE else "invalid_signature"
            return self._refuse(outcome, 401, check.detail)
        try:
            accepted = None if self.portals is None else await self.portals.accepted()
            batch = parse_batch(
                body,
                encode=self.encode,
                received_at_ms=received_at_ms,
                max_events=cfg.max_events,
                portals=accepted,
            )
        except BadBatchError as exc:
            return self._refuse("malformed", 400, str(exc))
        try:
            result = await self.ingestor.ingest(
                batch, timeout_s=_publish_timeout(request, cfg.publish_timeout_s)
            )
        except HubsyncError as exc:
            log.warning("webhook batch of %d event(s) not accepted: %s", batch.received, exc)
            self.metrics.webhook_ack_seconds.observe(time.perf_counter() - started)
            return self._refuse("unavailable", 503, "events could not be stored; retry later")
        if self.fetcher is not None:
            self.fetcher.notify(batch.events)  # full records, read after the answer
        m = self.metrics
        m.webhook_requests.labels("accepted").inc()
        for outcome, count in (
            ("published", result.published_total),
            ("duplicate", result.duplicates),
            ("unknown_type", batch.unknown_type),
            ("invalid", batch.invalid),
            ("foreign_portal", batch.foreign_portal),
        ):
            if count:
                m.webhook_events.labels(outcome).inc(count)
        for topic, count in result.published.items():
            m.events_published.labels(topic, "webhook").inc(count)
        m.webhook_ack_seconds.observe(time.perf_counter() - started)
        return web.json_response(
            {
                "received": batch.received,
                "published": result.published_total,
                "duplicates": result.duplicates,
                "skipped": batch.unknown_type + batch.invalid + batch.foreign_portal,
                "skip_reasons": batch.reasons,
            }
        )


def make_encoder(
    codec: AvroCodec, schema: AvroSchema, topics: TopicNames
) -> Callable[[str, dict[str, Any]], bytes]:
    names = topics.model_dump()

    def encode(role: str, value: dict[str, Any]) -> bytes:
        return codec.encode(names[role], schema, value)

    return encode


def create_webhook_app(
    config: WebhookReceiverConfig,
    publisher: AsyncKafkaPublisher,
    dedupe: WebhookDedupe,
    metrics: ConnectorMetrics,
    *,
    codec: AvroCodec | None = None,
    fetcher: WebhookRecordFetcher | None = None,
    portals: PortalGate | None = None,
) -> web.Application:
    """The receiver app. ``publisher`` and ``dedupe`` are owned by the caller (started before,
    closed after); the app runs a task that purges old dedupe keys, and the record fetcher when
    one is given."""
    codec = codec or publisher.codec
    if codec is None:
        raise ValueError("create_webhook_app needs a codec (or a publisher with one)")
    schema = codec.repository.current(SCHEMA_STEM)
    topics = {
        "hubspot_contacts": config.topics.hubspot_contacts,
        "hubspot_companies": config.topics.hubspot_companies,
    }
    ingestor = WebhookIngestor(publisher, dedupe, topics, publish_timeout_s=config.publish_timeout_s)
    handler = WebhookHandler(
        config, ingestor, make_encoder(codec, schema, config.topics), metrics, fetcher, portals
    )
    app = web.Application(client_max_size=config.max_body_bytes)
    app.router.add_route("*", config.path, handler.handle)
    app.cleanup_ctx.append(_purging(dedupe, config))
    if fetcher is not None:
        app.cleanup_ctx.append(_fetching(fetcher))
    return app


def _fetching(fetcher: WebhookRecordFetcher) -> Callable[[web.Application], Any]:
    async def ctx(_app: web.Application) -> Any:
        fetcher.start()
        yield
        await fetcher.stop()

    return ctx


def _purging(dedupe: WebhookDedupe, config: WebhookReceiverConfig) -> Callable[[web.Application], Any]:
    async def purge_forever() -> None:
        while True:
            try:
                removed = await dedupe.purge(config.dedupe_retention)
                if removed:
                    log.info(
                        "webhook dedupe: forgot %d key(s) older than %s", removed, config.dedupe_retention
                    )
            except HubsyncError as exc:
                log.warning("%s", exc)
            await asyncio.sleep(config.purge_interval_s)

    async def ctx(_app: web.Application) -> Any:
        task = asyncio.create_task(purge_forever(), name="hubsync-webhook-dedupe-purge")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


@dataclass
class RunningReceiver:
    runner: web.AppRunner
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_webhook_receiver(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0, path: str = DEFAULT_PATH
) -> RunningReceiver:
    """Serve ``app``; ``port=0`` picks a free port (see :attr:`RunningReceiver.port`)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return RunningReceiver(runner, host, int(runner.addresses[0][1]), path)
