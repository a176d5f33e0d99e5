"""The push error log: failures from HubSpot errors, the table upsert, the Avro value and the topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import fastavro
import fastavro.validation
import psycopg
import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.connectors.hubspot.http.errors import (
    HubSpotErrorDetails,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.push.errors import (
    CATEGORY_CONNECTION,
    CATEGORY_RATE_LIMITS,
    ErrorNotFoundError,
    ErrorResolvedError,
    ErrorRow,
    ErrorTopicPublisher,
    PushFailure,
    get_error,
    list_errors,
    mark_retrying,
    push_error_value,
    record_failure,
    request_retry,
    resolve,
)
from hubsync.settings import Settings, TopicNames
from hubsync.storage.migrate import migrate
from hubsync.streams.admin import admin_client, ensure_topics
from hubsync.streams.producer import AsyncKafkaPublisher
from hubsync.streams.topics import spec_for
from hubsync.testing import wait_for

CODEC = SingleObjectCodec(SchemaRepository())
SCHEMA = CODEC.repository.current("push_error")

VALIDATION_BODY: dict[str, Any] = {
    "status": "error",
    "message": "Property values were not valid: Email is not a valid email address",
    "correlationId": "c0ffee00-1111-2222-3333-444455556666",
    "category": "VALIDATION_ERROR",
    "subCategory": "PropertyValidation",
    "context": {"propertyName": ["email"], "count": 1},
    "errors": [
        {
            "message": "Email is not a valid email address",
            "code": "INVALID_EMAIL",
            "in": "email",
            "subCategory": "INVALID_EMAIL",
            "context": {"propertyName": ["email"]},
        }
    ],
}
PAYLOAD = {"properties": {"email": "not-an-email", "hubsync_record_id": "42"}}


def validation_failure(**extra: Any) -> PushFailure:
    details = HubSpotErrorDetails.from_body(400, VALIDATION_BODY)
    return PushFailure.from_details(
        details,
        object_type="contact",
        record_id=42,
        operation="update",
        hubspot_id="901",
        payload=PAYLOAD,
        **extra,
    )


# ---- building failures ---------------------------------------------------------------------------


def test_failure_from_hubspot_details() -> None:
    failure = validation_failure()
    assert failure.category == "VALIDATION_ERROR"
    assert failure.sub_category == "PropertyValidation"
    assert failure.http_status == 400
    assert failure.message == VALIDATION_BODY["message"]
    assert failure.correlation_id == VALIDATION_BODY["correlationId"]
    assert failure.context == VALIDATION_BODY["context"]
    assert failure.errors[0]["code"] == "INVALID_EMAIL"
    assert failure.attempts == 1 and failure.payload == PAYLOAD


def test_failure_from_exceptions() -> None:
    rejected = HubSpotRecordError(
        "rejected",
        HubSpotErrorDetails.from_body(409, {"message": "Contact already exists", "category": "CONFLICT"}),
    )
    failure = PushFailure.from_exception(rejected, object_type="contact", record_id=1, operation="create")
    assert (failure.category, failure.http_status, failure.message) == (
        "CONFLICT",
        409,
        "Contact already exists",
    )

    exhausted = HubSpotRetriesExhaustedError(
        "HubSpot answered 429 five times", HubSpotErrorDetails(status=429), attempts=5
    )
    failure = PushFailure.from_exception(exhausted, object_type="account", record_id=2, operation="upsert")
    assert failure.category == CATEGORY_RATE_LIMITS and failure.attempts == 5
    assert failure.message == "HubSpot answered 429 five times"

    dropped = ConnectionError("connection reset talking to https://user:hunter2@api.example.com")
    failure = PushFailure.from_exception(dropped, object_type="account", record_id=2, operation="create")
    assert failure.category == CATEGORY_CONNECTION and failure.http_status is None
    assert "hunter2" not in failure.message


def test_failure_validation() -> None:
    with pytest.raises(ValueError, match="operation"):
        PushFailure(object_type="contact", record_id=1, operation="delete", category="X", message="m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="object_type"):
        PushFailure(object_type="deal", record_id=1, operation="create", category="X", message="m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts"):
        PushFailure(
            object_type="contact", record_id=1, operation="create", category="X", message="m", attempts=0
        )


# ---- the Avro value ------------------------------------------------------------------------------


def row(**overrides: Any) -> ErrorRow:
    values: dict[str, Any] = {
        "id": 7,
        "object_type": "contact",
        "record_id": 42,
        "hubspot_id": "901",
        "operation": "update",
        "http_status": 400,
        "category": "VALIDATION_ERROR",
        "sub_category": "PropertyValidation",
        "message": "Property values were not valid",
        "correlation_id": "c0ffee",
        "context": VALIDATION_BODY["context"],
        "errors": VALIDATION_BODY["errors"],
        "payload": PAYLOAD,
        "attempts": 2,
        "status": "open",
        "first_seen": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        "last_seen": datetime(2026, 11, 27, 11, 30, 0, 123_000, tzinfo=UTC),
    }
    values.update(overrides)
    return ErrorRow(**values)


def test_push_error_value_is_valid_and_round_trips_through_the_codec() -> None:
    value = push_error_value(row())
    fastavro.validation.validate(value, SCHEMA.parsed, raise_errors=True, strict=True)
    back = CODEC.decode("hubsync.push.errors", SCHEMA, CODEC.encode("hubsync.push.errors", SCHEMA, value))
    assert back["object_type"] == "CONTACT" and back["operation"] == "UPDATE"
    assert back["context"] == {"propertyName": ["email"], "count": ["1"]}
    assert back["errors"] == [
        {
            "message": "Email is not a valid email address",
            "code": "INVALID_EMAIL",
            "sub_category": "INVALID_EMAIL",
            "location": "email",
            "context": {"propertyName": ["email"]},
        }
    ]
    assert back["payload_json"] == '{"properties":{"email":"not-an-email","hubsync_record_id":"42"}}'
    assert back["last_seen"] == datetime(2026, 11, 27, 11, 30, 0, 123_000, tzinfo=UTC)


def test_push_error_value_of_a_bare_failure() -> None:
    value = push_error_value(
        row(
            object_type="account",
            operation="create",
            http_status=None,
            hubspot_id=None,
            sub_category=None,
            correlation_id=None,
            context={},
            errors=[],
            payload=None,
            category=CATEGORY_CONNECTION,
        )
    )
    fastavro.validation.validate(value, SCHEMA.parsed, raise_errors=True, strict=True)
    assert value["payload_json"] is None and value["errors"] == [] and value["object_type"] == "ACCOUNT"


# ---- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture
def db(fresh_database_url: str) -> str:
    migrate(fresh_database_url)
    return fresh_database_url


@pytest.mark.integration
def test_repeats_bump_attempts_and_keep_first_seen(db: str) -> None:
    with psycopg.connect(db) as conn:
        first = record_failure(conn, validation_failure(cause_event="evt-1"))
    time.sleep(0.05)  # a later time for the repeat: last_seen must move on, first_seen not
    with psycopg.connect(db) as conn:
        again = record_failure(conn, validation_failure(attempts=3))
        conflict = record_failure(
            conn,
            PushFailure(
                object_type="contact", record_id=42, operation="update", category="CONFLICT", message="taken"
            ),
        )
        created = record_failure(
            conn,
            PushFailure(
                object_type="contact",
                record_id=42,
                operation="create",
                category="VALIDATION_ERROR",
                message="x",
            ),
        )
    assert again == first and len({first, conflict, created}) == 3
    with psycopg.connect(db) as conn:
        stored = get_error(conn, first)
        activity = conn.execute(
            "SELECT record_id, cause_source, cause_event, detail FROM hubsync.activity_log"
            " WHERE action = 'push_failed' ORDER BY id"
        ).fetchall()
    assert stored is not None
    assert stored.attempts == 4 and stored.status == "open"
    assert stored.last_seen > stored.first_seen
    assert stored.payload == PAYLOAD and stored.context == VALIDATION_BODY["context"]
    assert stored.errors[0]["in"] == "email"
    assert len(activity) == 4
    assert activity[0][:3] == (42, "PUSH", "evt-1")
    assert activity[1][3]["attempts"] == 4 and activity[1][3]["error_id"] == first


@pytest.mark.integration
def test_status_lifecycle_list_and_resolve(db: str) -> None:
    with psycopg.connect(db) as conn:
        update_error = record_failure(conn, validation_failure())
        other = record_failure(
            conn,
            PushFailure(
                object_type="account", record_id=43, operation="create", category="CONFLICT", message="dup"
            ),
        )
        retrying = mark_retrying(conn, update_error)
        assert retrying is not None and retrying.status == "retrying"
        assert [r.id for r in list_errors(conn)] == [other]
        assert {r.id for r in list_errors(conn, None)} == {update_error, other}
        assert [r.id for r in list_errors(conn, "retrying")] == [update_error]
        assert [r.id for r in list_errors(conn, None, 1)] == [other]
        assert [r.id for r in list_errors(conn, None, record_id=42)] == [update_error]

        # the retry failed again: the same row is open again, one more attempt
        assert record_failure(conn, validation_failure()) == update_error
        reopened = get_error(conn, update_error)
        assert reopened is not None and (reopened.status, reopened.attempts) == ("open", 2)

        # a later push succeeded
        assert resolve(conn, 42, "create") == 0
        assert resolve(conn, 42, "update") == 1
        resolved = get_error(conn, update_error)
        assert resolved is not None and resolved.status == "resolved"
        assert mark_retrying(conn, update_error) is None
        # a new failure after the resolution is a new row
        assert record_failure(conn, validation_failure()) != update_error
        assert get_error(conn, 10_000) is None
        with pytest.raises(ValueError, match="status"):
            list_errors(conn, "closed")  # type: ignore[arg-type]


@pytest.mark.integration
def test_request_retry_appends_a_manual_push(db: str) -> None:
    with psycopg.connect(db) as conn:
        error_id = record_failure(conn, validation_failure())
        errored, event_id = request_retry(conn, error_id)
        assert errored.status == "retrying"
        outbox = conn.execute(
            "SELECT id, aggregatetype, aggregateid, type, payload FROM hubsync.outbox"
        ).fetchall()
        assert len(outbox) == 1
        oid, aggregatetype, aggregateid, change, payload = outbox[0]
        assert (oid, aggregatetype, aggregateid, change) == (event_id, "contact", "42", "PUSH_REQUESTED")
        assert payload["manual"] is True and payload["hubspot_id"] == "901" and payload["record_id"] == 42
        with pytest.raises(ErrorNotFoundError):
            request_retry(conn, 999_999)
        resolve(conn, 42)
        with pytest.raises(ErrorResolvedError):
            request_retry(conn, error_id)


# ---- Kafka ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_error_topic_publisher(db: str, kafka_bootstrap_servers: str) -> None:
    uid = uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        database_url=SecretStr(db),
        topics=TopicNames(push_errors=f"test.errors.{uid}"),
        topic_partitions=1,
    )
    spec = spec_for(settings, "push_errors")
    ensure_topics(admin_client(kafka_bootstrap_servers), [spec])
    with psycopg.connect(db) as conn:
        error_id = record_failure(conn, validation_failure())
        stored = get_error(conn, error_id)
    assert stored is not None
    registry = CollectorRegistry()

    async def publish() -> int:
        async with AsyncKafkaPublisher(kafka_bootstrap_servers, CODEC) as publisher:
            errors = ErrorTopicPublisher.from_settings(settings, publisher, CODEC, registry=registry)
            return await errors.publish([stored], timeout_s=30)

    assert asyncio.run(publish()) == 1
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap_servers, "group.id": f"g-{uid}"})
    consumer.assign([TopicPartition(spec.name, 0, 0)])

    def consumed() -> Message | None:
        polled = consumer.poll(0.2)
        return polled if polled is not None and polled.error() is None else None

    try:
        message = wait_for(consumed, timeout=20, interval=0, what=f"the error on {spec.name}")
    finally:
        consumer.close()
    assert message.key() == b"42"
    assert dict(message.headers() or [])["hubsync.error.id"] == str(error_id).encode()
    value = CODEC.decode(spec.name, SCHEMA, message.value())
    assert value["error_id"] == error_id and value["message"] == VALIDATION_BODY["message"]
    assert value["correlation_id"] == VALIDATION_BODY["correlationId"] and value["attempts"] == 1
    assert (
        registry.get_sample_value(
            "hubsync_push_errors_total",
            {"object_type": "contact", "operation": "update", "category": "VALIDATION_ERROR"},
        )
        == 1
    )
