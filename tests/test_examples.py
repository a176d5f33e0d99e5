"""The examples under ``examples/`` run against real Kafka and print what hubsync wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from hubsync.avro.codec import SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository, default_schema_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "consume_crm_contacts.py"

CONTACTS = [
    {
        "record_id": 101,
        "hubspot_id": "5001",
        "crm_status": "SYNCED",
        "creation_source": "HUBSPOT",
        "email": "ada@example.com",
        "additional_emails": ["ada.lovelace@example.org"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "properties": {"jobtitle": "Analyst", "phone": None},
        "account_ids": [7],
        "primary_account_id": 7,
        "potential_duplicate_ids": [],
        "merged_into_id": None,
        "erased": False,
        "hubspot_updated_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    },
    {
        "record_id": 102,
        "crm_status": "NOT_LINKED",
        "creation_source": "PLATFORM",
        "email": "grace@example.com",
        "updated_at": datetime(2026, 1, 3, tzinfo=UTC),
    },
]


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    futures[topic].result(timeout=30)


def _produce(bootstrap: str, topic: str, messages: list[tuple[str, bytes | None]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.type": "lz4"}
    )
    for key, value in messages:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


@pytest.mark.integration
def test_consume_crm_contacts_prints_decoded_records(kafka_bootstrap_servers: str) -> None:
    repository = SchemaRepository()
    codec = SingleObjectCodec(repository)
    schema = repository.current("crm_contact")
    topic = f"test-example-crm-contacts-{uuid.uuid4().hex[:10]}"
    _create_topic(kafka_bootstrap_servers, topic)
    messages: list[tuple[str, bytes | None]] = [
        (str(c["record_id"]), codec.encode(topic, schema, c)) for c in CONTACTS
    ]
    messages.append(("103", None))  # a tombstone
    _produce(kafka_bootstrap_servers, topic, messages)

    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap",
            kafka_bootstrap_servers,
            "--topic",
            topic,
            "--schema-dir",
            str(default_schema_dir()),
            "--from-beginning",
            "--max-messages",
            "3",
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["key"] for line in lines] == ["101", "102", "103"]
    ada, grace, gone = (line["value"] for line in lines)
    assert ada["email"] == "ada@example.com"
    assert ada["crm_status"] == "SYNCED"
    assert ada["properties"] == {"jobtitle": "Analyst", "phone": None}
    assert ada["additional_emails"] == ["ada.lovelace@example.org"]
    assert ada["hubspot_updated_at"] == "2026-01-02T03:04:05.678000+00:00"
    assert grace["record_id"] == 102
    assert grace["hubspot_id"] is None
    assert grace["creation_source"] == "PLATFORM"
    assert grace["erased"] is False
    assert gone is None


@pytest.mark.integration
def test_consume_crm_contacts_rejects_undecodable_values(kafka_bootstrap_servers: str) -> None:
    topic = f"test-example-crm-contacts-{uuid.uuid4().hex[:10]}"
    _create_topic(kafka_bootstrap_servers, topic)
    _produce(kafka_bootstrap_servers, topic, [("1", b"not avro")])
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap",
            kafka_bootstrap_servers,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            "1",
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "not Avro single-object encoding" in result.stderr
