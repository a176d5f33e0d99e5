"""Hypothesis fuzzing of the live receiver: whatever the body, headers or method, never a 5xx.

Bodies are sent with valid signatures too, so the fuzzing gets past the signature check into the
JSON parser and the event mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync.hubspot_model.signatures import HEADER_SIGNATURE_V3, HEADER_TIMESTAMP
from tests.connectors.hubspot.webhooks.test_webhook_harness import Harness, event, running_receiver

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = [
    "eventId",
    "subscriptionId",
    "portalId",
    "appId",
    "occurredAt",
    "subscriptionType",
    "attemptNumber",
    "objectId",
    "propertyName",
    "propertyValue",
    "changeSource",
    "sourceId",
    "changeFlag",
    "primaryObjectId",
    "mergedObjectIds",
    "newObjectId",
    "associationType",
    "fromObjectId",
    "toObjectId",
    "associationRemoved",
    "isPrimaryAssociation",
]
TYPES = [
    f"{o}.{k}"
    for o in ("contact", "company", "deal")
    for k in ("creation", "propertyChange", "merge", "associationChange", "x")
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(TYPES),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
events = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS))
# mostly-valid events with one field broken
mutated = st.builds(
    lambda base, name, value: {**base, name: value},
    st.sampled_from(TYPES).map(
        lambda t: event(
            t,
            propertyName="p",
            propertyValue="v",
            primaryObjectId=1,
            mergedObjectIds=[2],
            fromObjectId=1,
            toObjectId=2,
        )
    ),
    st.sampled_from(FIELDS),
    json_values,
)
# printable ASCII; h11 (httpx) refuses to send values with surrounding whitespace
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)


@pytest.fixture(scope="module")
def hub(kafka_bootstrap_servers: str, database_url: str) -> Iterator[Harness]:
    # hundreds of requests a second: the request-rate bound (tested on its own) would answer 429
    with running_receiver(
        kafka_bootstrap_servers, database_url, max_body_bytes=64 * 1024, max_requests_per_s=0
    ) as harness:
        yield harness


def assert_not_5xx(response: Any) -> None:
    assert response.status_code < 500, response.text


@FUZZ
@given(body=st.binary(max_size=2048))
def test_signed_arbitrary_bytes(hub: Harness, body: bytes) -> None:
    response = hub.post(body)
    assert_not_5xx(response)
    assert response.status_code in (200, 400)


@FUZZ
@given(batch=st.lists(st.one_of(events, mutated, json_values), max_size=8))
def test_signed_event_like_batches(hub: Harness, batch: list[Any]) -> None:
    body = json.dumps(batch, allow_nan=True).encode()
    response = hub.post(body)
    assert_not_5xx(response)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["received"] == len(batch)


@FUZZ
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    signature=st.one_of(st.none(), header_text),
    timestamp=st.one_of(st.none(), header_text, st.integers(-(2**70), 2**70).map(str)),
    body=st.binary(max_size=512),
)
def test_arbitrary_headers(
    hub: Harness, method: str, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    headers = {}
    if signature is not None:
        headers[HEADER_SIGNATURE_V3] = signature
    if timestamp is not None:
        headers[HEADER_TIMESTAMP] = timestamp
    response = hub.client.request(method, hub.url, content=body, headers=headers)
    assert_not_5xx(response)
    assert response.status_code in ((401,) if method == "POST" else (405,))
