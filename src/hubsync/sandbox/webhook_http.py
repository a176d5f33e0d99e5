"""One webhook POST as HubSpot makes it: the target URL, the signed request, the call itself."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from hubsync.hubspot_model.signatures import (
    HEADER_SIGNATURE,
    HEADER_SIGNATURE_V3,
    HEADER_SIGNATURE_VERSION,
    HEADER_TIMESTAMP,
    sign_v1,
    sign_v3,
)
from hubsync.sandbox.events import ChangeEvent
from hubsync.sandbox.webhook_payloads import to_hubspot_json
from hubsync.sandbox.webhook_state import retry_after_s

#: the User-Agent of HubSpot's webhook deliveries
USER_AGENT = (
    "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client)"
    " - WebhooksExecutorDaemon-executor"
)
_WIRE_READY = re.compile(r"(?:[\x21-\x24\x26-\x7e]|%[0-9A-Fa-f]{2})+")


def target_url(raw: str) -> URL:
    """The URL to POST to and to sign. An already encoded URL is sent byte for byte (as HubSpot
    calls the configured target URL); anything else (spaces, non-ASCII) is percent-encoded first.
    The fragment, never sent, is dropped."""
    url = URL(raw, encoded=True) if _WIRE_READY.fullmatch(raw) else URL(raw)
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ValueError(f"webhook_url must be an absolute http(s) URL, got {raw!r}")
    return url.with_fragment(None)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]
    timestamp_ms: int


def build_request(
    events: Sequence[tuple[int, ChangeEvent]],
    *,
    attempt: int,
    portal_id: int,
    app_id: int,
    secret: str,
    signed_uri: str,
    timeout_s: float,
    now_ms: int | None = None,
) -> SignedRequest:
    """The body (compact JSON array, UTF-8) and headers of one delivery attempt of a batch.

    Both signatures HubSpot sends with CRM object events: v3 over ``POST`` + URI + body +
    timestamp, and v1 (``X-HubSpot-Signature-Version: v1``) over the body.
    """
    payload = [
        to_hubspot_json(
            event,
            event_id=event_id,
            attempt=attempt,
            portal_id=portal_id if event.portal_id is None else event.portal_id,
            app_id=app_id,
        )
        for event_id, event in events
    ]
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER_SIGNATURE_V3: sign_v3(secret, "POST", signed_uri, body, timestamp_ms),
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_SIGNATURE: sign_v1(secret, body),
        HEADER_SIGNATURE_VERSION: "v1",
        "X-HubSpot-Timeout-Millis": str(round(timeout_s * 1000)),
    }
    return SignedRequest(body, headers, timestamp_ms)


@dataclass(frozen=True, slots=True)
class PostOutcome:
    #: HTTP status, None when no answer came
    status: int | None
    error: str | None = None
    #: a 429's ``Retry-After``, in seconds
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post(
    session: aiohttp.ClientSession, url: URL, request: SignedRequest, timeout_s: float
) -> PostOutcome:
    """POST ``request``; connection errors and timeouts become an outcome without status.

    Redirects are not followed (a 3xx fails the attempt, as any non-2xx does).
    """
    try:
        async with session.post(
            url,
            data=request.body,
            headers=request.headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            await response.read()
            retry_after = (
                retry_after_s(response.headers.get("Retry-After")) if response.status == 429 else None
            )
            return PostOutcome(response.status, retry_after_s=retry_after)
    except TimeoutError:
        return PostOutcome(None, f"timeout after {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return PostOutcome(None, f"{type(exc).__name__}: {exc}")
