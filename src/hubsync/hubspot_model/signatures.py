"""HubSpot request signatures (v1, v2, v3): pure functions shared by the sandbox, which signs the
webhooks it sends, and hubsync's webhook receiver, which verifies them.

What HubSpot documents ("Validating requests", developers.hubspot.com, legacy-apps and
developer-platform versions of the page):

* v1 (``X-HubSpot-Signature`` with ``X-HubSpot-Signature-Version: v1``, sent with CRM object
  webhooks): hex SHA-256 of ``client_secret + body``.
* v2 (same headers, version ``v2``; workflow webhook actions, CRM cards): hex SHA-256 of
  ``client_secret + method + uri + body``. The URI must match the request exactly, including the
  protocol and the order of the query parameters; it is *not* decoded.
* v3 (``X-HubSpot-Signature-v3`` + ``X-HubSpot-Request-Timestamp``): base64 of
  HMAC-SHA256(key=client_secret, msg=method + uri + body + timestamp), UTF-8 throughout, where
  ``uri`` is the full URL HubSpot called (scheme, host, path, query) after decoding the
  percent-encodings listed in :data:`V3_DECODED_ESCAPES` (and nothing else), and the timestamp is
  the header's text (Unix milliseconds). Requests whose timestamp is older than 5 minutes are
  rejected; signatures are compared in constant time.

The official SDKs (``hubspot-api-client`` and the Node/PHP/Ruby ones) hash the URI they are given
verbatim, so the decoding is the caller's job there; :func:`sign_v3` and :func:`verify_v3` apply it
themselves, and applying it twice changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from enum import StrEnum

#: Percent-encodings HubSpot decodes in the URI before computing a v3 signature (its table lists
#: the upper-case form; hex digits are case-insensitive in URIs (RFC 3986 2.1), so both are
#: decoded). Everything else (``%20``, ``%26``, ``%3D``, ``%25``, non-ASCII bytes...) stays encoded.
V3_DECODED_ESCAPES: dict[str, str] = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_V3_ESCAPE = re.compile("|".join(V3_DECODED_ESCAPES), re.IGNORECASE)
_TIMESTAMP = re.compile(r"[0-9]{1,16}")

#: HubSpot's replay window: reject a v3 request whose timestamp is older than this
MAX_AGE_S = 300.0

HEADER_SIGNATURE = "X-HubSpot-Signature"
HEADER_SIGNATURE_VERSION = "X-HubSpot-Signature-Version"
HEADER_SIGNATURE_V3 = "X-HubSpot-Signature-v3"
HEADER_TIMESTAMP = "X-HubSpot-Request-Timestamp"


def decode_v3_uri(uri: str) -> str:
    """The URI as HubSpot hashes it for v3: only the escapes of :data:`V3_DECODED_ESCAPES` decoded.

    One pass, so ``%253A`` stays ``%253A``; none of the decoded characters is ``%``, so the
    function is idempotent.
    """
    return _V3_ESCAPE.sub(lambda match: V3_DECODED_ESCAPES[match.group(0).upper()], uri)


def _v3_digest(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = b"".join(
        (method.encode("utf-8"), decode_v3_uri(uri).encode("utf-8"), body, timestamp.encode("ascii"))
    )
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """``X-HubSpot-Signature-v3`` of a request sent at ``timestamp_ms`` (Unix milliseconds)."""
    if timestamp_ms < 0:
        raise ValueError("timestamp_ms must not be negative")
    return _v3_digest(secret, method, uri, body, str(timestamp_ms))


def v3_headers(secret: str, uri: str, body: bytes, timestamp_ms: int | None = None) -> dict[str, str]:
    """The headers HubSpot sends with a webhook ``POST`` of ``body`` to ``uri`` (now, by default)."""
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return {
        "Content-Type": "application/json",
        HEADER_TIMESTAMP: str(stamp),
        HEADER_SIGNATURE_V3: sign_v3(secret, "POST", uri, body, stamp),
    }


def sign_v1(secret: str, body: bytes) -> str:
    """``X-HubSpot-Signature`` for ``X-HubSpot-Signature-Version: v1``."""
    return hashlib.sha256(secret.encode("utf-8") + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    """``X-HubSpot-Signature`` for ``X-HubSpot-Signature-Version: v2`` (URI used verbatim)."""
    return hashlib.sha256(
        b"".join((secret.encode("utf-8"), method.encode("utf-8"), uri.encode("utf-8"), body))
    ).hexdigest()


class SignatureFailure(StrEnum):
    MISSING_SIGNATURE = "missing_signature"
    MISSING_TIMESTAMP = "missing_timestamp"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Outcome of :func:`verify_v3`. Truthy when valid; ``detail`` is safe to log or return (it
    never contains the secret or the expected signature)."""

    failure: SignatureFailure | None = None
    detail: str = "valid"

    @property
    def ok(self) -> bool:
        return self.failure is None

    def __bool__(self) -> bool:
        return self.ok


_VALID = SignatureCheck()


def _header(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def verify_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now_ms: int | None = None,
    max_age_s: float = MAX_AGE_S,
    max_future_s: float | None = None,
) -> SignatureCheck:
    """Check a request's ``X-HubSpot-Signature-v3`` against ``uri`` (the full URL HubSpot called).

    Order: headers present, timestamp well formed (decimal Unix milliseconds), timestamp fresh,
    then the signature (constant-time compare). A request older than ``max_age_s`` is stale
    (exactly ``max_age_s`` still passes, as in HubSpot's PHP SDK).

    Timestamps in the future: HubSpot's documentation only rejects old ones, and the official
    Python SDK accepts any future timestamp. Accepting them unboundedly would let a request
    signed with a wrong (future) clock be replayed for as long as that clock is ahead, so this
    accepts clock skew up to ``max_future_s`` (default: ``max_age_s``, i.e. a symmetric window of
    +-5 minutes) and rejects anything further ahead as ``FUTURE_TIMESTAMP``.
    """
    signature = _header(signature_header)
    if signature is None:
        return SignatureCheck(SignatureFailure.MISSING_SIGNATURE, f"{HEADER_SIGNATURE_V3} header is missing")
    timestamp = _header(timestamp_header)
    if timestamp is None:
        return SignatureCheck(SignatureFailure.MISSING_TIMESTAMP, f"{HEADER_TIMESTAMP} header is missing")
    if not _TIMESTAMP.fullmatch(timestamp):
        return SignatureCheck(
            SignatureFailure.MALFORMED_TIMESTAMP, f"{HEADER_TIMESTAMP} is not Unix milliseconds"
        )
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    age_ms = now - int(timestamp)
    if age_ms > max_age_s * 1000:
        return SignatureCheck(
            SignatureFailure.STALE_TIMESTAMP, f"request timestamp is {age_ms / 1000:.0f} s old"
        )
    future_s = max_age_s if max_future_s is None else max_future_s
    if -age_ms > future_s * 1000:
        return SignatureCheck(
            SignatureFailure.FUTURE_TIMESTAMP, f"request timestamp is {-age_ms / 1000:.0f} s in the future"
        )
    expected = _v3_digest(secret, method, uri, body, timestamp)
    # bytes, so that a non-ASCII header cannot make compare_digest raise
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "surrogateescape")):
        return SignatureCheck(SignatureFailure.BAD_SIGNATURE, "signature does not match")
    return _VALID
