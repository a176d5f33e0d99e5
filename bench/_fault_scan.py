"""The fault suite's security scan, run after the trials: no secret in any log line, metric, error-log row
or message of any topic, and no personal data in metrics.

The secrets are the deployment's own: the HubSpot access token, the webhook secret and the database
password (in ``DATABASE_URL``). The personal data are the ledger's e-mail addresses and names.
Kafka here has no SASL, so no Kafka password exists to leak; the SASL deployments' settings are
``SecretStr`` like the others (docs/reliability.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

import httpx
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench._fault_env import DATABASE_PASSWORD, SECRET, TOKEN, FaultEnvironment
from bench._fault_oracle import Ledger, Problem

_METRICS_LINE = re.compile(r"metrics on (http://[^\s/]+:\d+/metrics)")


def secrets() -> dict[str, str]:
    return {
        "the HubSpot access token": TOKEN,
        "the webhook secret": SECRET,
        "the database password": DATABASE_PASSWORD,
    }


def personal_data(ledger: Ledger) -> set[str]:
    values = set()
    for c in ledger.contacts:
        values |= {c.email, c.firstname, c.lastname}
    return {v for v in values if v}


def _found(text: str, needles: dict[str, str]) -> list[str]:
    return [what for what, value in needles.items() if value in text]


def _topic_bytes(env: FaultEnvironment) -> Iterable[tuple[str, bytes]]:
    """Every key and value of every topic the deployment uses."""
    consumer = Consumer(
        {
            "bootstrap.servers": env.bootstrap,
            "group.id": f"scan-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        for topic in env.settings.topics.model_dump().values():
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue
            parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
            ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
            consumer.assign(parts)
            left = {p for p, end in ends.items() if end > 0}
            while left:
                batch = consumer.consume(1000, timeout=2.0)
                if not batch:
                    break
                for message in batch:
                    if message.error():
                        continue
                    yield topic, (message.key() or b"") + b"\0" + (message.value() or b"")
                    partition, offset = message.partition(), message.offset()
                    if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                        left.discard(partition)
    finally:
        consumer.close()


def scan(env: FaultEnvironment, ledger: Ledger) -> tuple[list[Problem], dict[str, int]]:
    """``(what leaked, how much was scanned)``."""
    found: list[Problem] = []
    needles = secrets()
    scanned = {"log_bytes": 0, "metrics_bytes": 0, "error_log_rows": 0, "topic_messages": 0}
    metrics_urls: list[tuple[str, str]] = []
    for name, component in env.components.items():
        text = component.all_output()
        scanned["log_bytes"] += len(text)
        found += [Problem("secret", f"{what} in the {name} log") for what in _found(text, needles)]
        if component.alive:
            metrics_urls += [(name, url) for url in _METRICS_LINE.findall(component.output())[-1:]]
    private = {f"personal data {v!r}": v for v in personal_data(ledger)}
    for name, url in metrics_urls:
        try:
            text = httpx.get(url, timeout=10).text
        except httpx.HTTPError:  # the process ended since (a fault's restart): its log was scanned
            continue
        scanned["metrics_bytes"] += len(text)
        found += [Problem("secret", f"{what} in the {name} metrics") for what in _found(text, needles)]
        found += [Problem("personal_data", f"{what} in the {name} metrics") for what in _found(text, private)]
    with psycopg.connect(env.postgres.url) as conn:
        for row in conn.execute("SELECT * FROM hubsync.push_errors_all").fetchall():
            scanned["error_log_rows"] += 1
            found += [Problem("secret", f"{what} in the error log") for what in _found(repr(row), needles)]
    encoded = {what: value.encode() for what, value in needles.items()}
    for topic, data in _topic_bytes(env):
        scanned["topic_messages"] += 1
        found += [Problem("secret", f"{what} on {topic}") for what, value in encoded.items() if value in data]
    return found, scanned
