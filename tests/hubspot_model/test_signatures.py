"""HubSpot request signatures: HubSpot's documented examples, and agreement with the official SDK
(``hubspot-api-client``: ``hubspot.utils.signature.Signature``)."""

from __future__ import annotations

import time

import pytest
from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.hubspot_model.signatures import (
    V3_DECODED_ESCAPES,
    SignatureFailure,
    decode_v3_uri,
    sign_v1,
    sign_v2,
    sign_v3,
    verify_v3,
)

SECRET = "d5a8c0a4-3d7e-4c9b-9a51-6f2b3c1e7a90"
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)
# The v3 example of HubSpot's "Validating requests" page (developer platform version).
DOC_V3_SECRET = "cfc68c0b-4b4e-4ef8-b764-95350e4ea479"
DOC_V3_URI = "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df"
DOC_V3_BODY = (
    b'[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,'
    b'"occurredAt":1752613920733,"subscriptionType":"contact.creation","attemptNumber":0,'
    b'"objectId":138017612137,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:76023669"}]'
)
DOC_V3_TIMESTAMP = 1752613922216
DOC_V3_SIGNATURE = "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg="

METHODS = ["POST", "GET", "PUT", "PATCH", "DELETE"]
URIS = [
    "https://example.com/webhooks/hubspot",
    "http://127.0.0.1:8080/webhooks/hubspot?portalId=62515&mode=batch",
    "https://hooks.example.com/a%3Ab/c?next=%2Fhome%3Fx%3D1&who=%40me&sel=%28a%29%2A%2C%3B%21%24%27",
    "https://hooks.example.com/caf%C3%A9/%20space?q=a%20b&amp=%26&eq=%3D&pct=%25&lower=%3a%2f",
]
BODIES = [
    b"",
    b'[{"eventId":1,"objectId":42,"propertyName":"firstname","propertyValue":"Ann"}]',
    '[{"propertyName":"lastname","propertyValue":"Jürgen Ørsted — 日本語 ✓ 🚀"}]'.encode(),
    b'{"weird": "quotes \\" and \\\\ backslashes\\n"}',
]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sdk_valid_v3(signature: str, secret: str, method: str, uri: str, body: bytes, timestamp: int) -> bool:
    # The SDK hashes the URI verbatim: HubSpot's documentation has the caller decode it first.
    return bool(
        Signature.is_valid(
            signature=signature,
            client_secret=secret,
            request_body=body.decode("utf-8"),
            http_uri=decode_v3_uri(uri),
            http_method=method,
            signature_version="v3",
            timestamp=str(timestamp),
        )
    )


def test_documented_examples() -> None:
    assert (
        sign_v1(DOC_SECRET, DOC_V1_BODY) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    )
    assert (
        sign_v2(DOC_SECRET, "GET", "https://www.example.com/webhook_uri", b"")
        == "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    )
    assert (
        sign_v2(
            DOC_SECRET, "POST", "https://www.example.com/webhook_uri", b'{"example_field":"example_value"}'
        )
        == "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    )
    assert sign_v3(DOC_V3_SECRET, "POST", DOC_V3_URI, DOC_V3_BODY, DOC_V3_TIMESTAMP) == DOC_V3_SIGNATURE
    check = verify_v3(
        DOC_V3_SECRET,
        "POST",
        DOC_V3_URI,
        DOC_V3_BODY,
        str(DOC_V3_TIMESTAMP),
        DOC_V3_SIGNATURE,
        now_ms=DOC_V3_TIMESTAMP + 1_000,
    )
    assert check.ok and check


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("uri", URIS)
@pytest.mark.parametrize("body", BODIES)
def test_sdk_accepts_our_signatures(method: str, uri: str, body: bytes) -> None:
    timestamp = now_ms()
    text = body.decode("utf-8")
    v3 = sign_v3(SECRET, method, uri, body, timestamp)
    assert sdk_valid_v3(v3, SECRET, method, uri, body, timestamp)
    assert verify_v3(SECRET, method, uri, body, str(timestamp), v3)
    assert Signature.is_valid(sign_v1(SECRET, body), SECRET, text, signature_version="v1")
    assert Signature.is_valid(
        sign_v2(SECRET, method, uri, body),
        SECRET,
        text,
        http_uri=uri,
        http_method=method,
        signature_version="v2",
    )
    # ... and we accept the SDK's (given the decoded URI, as the docs tell its users to do)
    sdk_v3 = Signature.get_signature(SECRET, text, "v3", decode_v3_uri(uri), method, str(timestamp))
    assert verify_v3(SECRET, method, uri, body, str(timestamp), sdk_v3)


@pytest.mark.parametrize("uri", URIS)
def test_tampering_and_other_secrets_are_rejected_by_both(uri: str) -> None:
    body = BODIES[2]
    timestamp = now_ms()
    good = sign_v3(SECRET, "POST", uri, body, timestamp)
    tampered = body.replace("Jürgen".encode(), b"Jurgen")
    cases = [
        ("tampered body", SECRET, "POST", uri, tampered, timestamp),
        ("other secret", SECRET + "x", "POST", uri, body, timestamp),
        ("other method", SECRET, "PUT", uri, body, timestamp),
        ("other uri", SECRET, "POST", uri + "&extra=1", body, timestamp),
        ("other timestamp", SECRET, "POST", uri, body, timestamp + 1),
    ]
    for label, secret, method, case_uri, case_body, case_ts in cases:
        assert not sdk_valid_v3(good, secret, method, case_uri, case_body, case_ts), label
        check = verify_v3(secret, method, case_uri, case_body, str(case_ts), good)
        assert check.failure is SignatureFailure.BAD_SIGNATURE, label
    assert not Signature.is_valid(sign_v1(SECRET, body), SECRET, tampered.decode(), signature_version="v1")
    assert not Signature.is_valid(sign_v1(SECRET, body), "other", body.decode(), signature_version="v1")
    assert not Signature.is_valid(
        sign_v2(SECRET, "POST", uri, body), SECRET, tampered.decode(), http_uri=uri, signature_version="v2"
    )


def test_stale_timestamps_are_rejected_by_both() -> None:
    uri, body = URIS[1], BODIES[1]
    stale = now_ms() - 301_000
    signature = sign_v3(SECRET, "POST", uri, body, stale)
    with pytest.raises(InvalidSignatureTimestampError):
        sdk_valid_v3(signature, SECRET, "POST", uri, body, stale)
    check = verify_v3(SECRET, "POST", uri, body, str(stale), signature)
    assert check.failure is SignatureFailure.STALE_TIMESTAMP and not check


def test_freshness_window() -> None:
    uri, body, now = URIS[0], BODIES[1], 1_760_000_000_000

    def check(timestamp: int, **kwargs: float) -> SignatureFailure | None:
        signature = sign_v3(SECRET, "POST", uri, body, timestamp)
        return verify_v3(SECRET, "POST", uri, body, str(timestamp), signature, now_ms=now, **kwargs).failure

    assert check(now) is None
    assert check(now - 300_000) is None  # exactly 5 minutes old: still accepted
    assert check(now - 300_001) is SignatureFailure.STALE_TIMESTAMP
    assert check(now - 30_000, max_age_s=10) is SignatureFailure.STALE_TIMESTAMP
    # clock skew: up to max_future_s (default max_age_s) ahead is accepted, further is rejected
    assert check(now + 300_000) is None
    assert check(now + 300_001) is SignatureFailure.FUTURE_TIMESTAMP
    assert check(now + 61_000, max_future_s=60) is SignatureFailure.FUTURE_TIMESTAMP
    assert check(now + 59_000, max_future_s=60) is None


@pytest.mark.parametrize(
    ("timestamp", "signature", "failure"),
    [
        ("1760000000000", None, SignatureFailure.MISSING_SIGNATURE),
        ("1760000000000", "  ", SignatureFailure.MISSING_SIGNATURE),
        (None, "abc=", SignatureFailure.MISSING_TIMESTAMP),
        ("", "abc=", SignatureFailure.MISSING_TIMESTAMP),
        ("1760000000.5", "abc=", SignatureFailure.MALFORMED_TIMESTAMP),
        ("-5", "abc=", SignatureFailure.MALFORMED_TIMESTAMP),
        ("1e12", "abc=", SignatureFailure.MALFORMED_TIMESTAMP),
        ("\uff11\uff17\uff16", "abc=", SignatureFailure.MALFORMED_TIMESTAMP),  # full-width digits
        ("1760000000000", "not-the-signature", SignatureFailure.BAD_SIGNATURE),
        ("1760000000000", "sïgnature ✓", SignatureFailure.BAD_SIGNATURE),  # non-ASCII header: no crash
    ],
)
def test_failures_say_why(timestamp: str | None, signature: str | None, failure: SignatureFailure) -> None:
    check = verify_v3(SECRET, "POST", URIS[0], b"[]", timestamp, signature, now_ms=1_760_000_000_000)
    assert check.failure is failure
    assert not check
    assert SECRET not in check.detail and SECRET not in repr(check)


def test_detail_never_leaks_the_expected_signature() -> None:
    timestamp = now_ms()
    expected = sign_v3(SECRET, "POST", URIS[0], b"[]", timestamp)
    check = verify_v3(SECRET, "POST", URIS[0], b"[]", str(timestamp), "wrong")
    assert expected not in repr(check)


def test_uri_decoding_rules() -> None:
    for encoded, decoded in V3_DECODED_ESCAPES.items():
        assert decode_v3_uri(f"https://h/x{encoded}y") == f"https://h/x{decoded}y"
        assert decode_v3_uri(f"https://h/x{encoded.lower()}y") == f"https://h/x{decoded}y"
    # not in HubSpot's table: left encoded
    kept = "https://h/a%20b?c=%26&d=%3D&e=%25&f=%23&g=%2B&h=%C3%A9&i=%7E"
    assert decode_v3_uri(kept) == kept
    # one pass only, and idempotent
    assert decode_v3_uri("https://h/%253A") == "https://h/%253A"
    twice = decode_v3_uri(decode_v3_uri(URIS[2]))
    assert (
        twice
        == decode_v3_uri(URIS[2])
        == ("https://hooks.example.com/a:b/c?next=/home?x%3D1&who=@me&sel=(a)*,;!$'")
    )


def test_v3_signs_the_decoded_uri_v2_the_verbatim_one() -> None:
    timestamp, body = now_ms(), b"[]"
    encoded, decoded = "https://h.example/p%3Aq?r=%2Fs", "https://h.example/p:q?r=/s"
    assert sign_v3(SECRET, "POST", encoded, body, timestamp) == sign_v3(
        SECRET, "POST", decoded, body, timestamp
    )
    assert sign_v2(SECRET, "POST", encoded, body) != sign_v2(SECRET, "POST", decoded, body)


def test_sign_v3_rejects_negative_timestamps() -> None:
    with pytest.raises(ValueError, match="negative"):
        sign_v3(SECRET, "POST", URIS[0], b"", -1)


_uri_text = st.lists(
    st.sampled_from(
        [*"abcXYZ019-._~/?&=:@!$'()*,;+", *V3_DECODED_ESCAPES, "%20", "%25", "%C3%A9", "é", "日"]
    ),
    max_size=20,
).map("".join)

_no_surrogates = st.characters(codec="utf-8")


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(_no_surrogates, min_size=1, max_size=40),
    method=st.sampled_from(METHODS),
    path=_uri_text,
    body=st.text(_no_surrogates, max_size=200),
)
def test_property_sdk_and_verify_agree(secret: str, method: str, path: str, body: str) -> None:
    uri = f"https://hooks.example.com/{path}"
    raw = body.encode("utf-8")
    timestamp = now_ms()
    signature = sign_v3(secret, method, uri, raw, timestamp)
    assert sdk_valid_v3(signature, secret, method, uri, raw, timestamp)
    assert verify_v3(secret, method, uri, raw, str(timestamp), signature)
    assert Signature.is_valid(sign_v1(secret, raw), secret, body, signature_version="v1")
    assert Signature.is_valid(
        sign_v2(secret, method, uri, raw),
        secret,
        body,
        http_uri=uri,
        http_method=method,
        signature_version="v2",
    )
