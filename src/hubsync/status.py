"""``hubsync status``: consumer lag, last polls, outbox, errors and record counts, in one report."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from hubsync.settings import Settings
from hubsync.storage.config_versions import mapping_version, worker_contexts


@dataclass(frozen=True, slots=True)
class TopicLag:
    """Messages of ``topic`` the consumer ``group`` has not committed yet (``None``: no commit yet)."""

    group: str
    topic: str
    end_offsets: int
    lag: int | None


def consumer_lag(bootstrap: str, group: str, topics: Sequence[str], timeout: float = 10.0) -> list[TopicLag]:
    """Per topic: the sum over partitions of high watermark - committed offset of ``group``."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    out: list[TopicLag] = []
    try:
        metadata = probe.list_topics(timeout=timeout)
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                continue
            partitions = [TopicPartition(topic, p) for p in sorted(info.partitions)]
            committed = probe.committed(partitions, timeout=timeout)
            end_total, lag_total, any_commit = 0, 0, False
            for tp in committed:
                high = probe.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout)[1]
                end_total += high
                if tp.offset >= 0:
                    any_commit = True
                    lag_total += max(0, high - tp.offset)
                else:
                    lag_total += high
            out.append(TopicLag(group, topic, end_total, lag_total if any_commit or end_total else 0))
    finally:
        probe.close()
    return out


def topic_size(bootstrap: str, topic: str, timeout: float = 10.0) -> int | None:
    """Messages in ``topic`` (sum of high - low watermarks), None when it does not exist."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hubsync-status-{uuid.uuid4().hex}"})
    try:
        info = probe.list_topics(topic, timeout=timeout).topics.get(topic)
        if info is None or info.error is not None:
            return None
        total = 0
        for p in info.partitions:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            total += high - low
        return total
    finally:
        probe.close()


def database_status(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql).fetchall())

    records = {
        f"{kind}s": dict(rows(f"SELECT crm_status, count(*) FROM hubsync.{kind}s GROUP BY 1"))
        for kind in ("contact", "account")
    }
    outbox = rows(
        "SELECT count(*), extract(epoch FROM now() - min(created_at))"
        " FROM hubsync.outbox WHERE published_at IS NULL"
    )[0]
    errors = rows(
        "SELECT category, count(*) FROM hubsync.push_errors WHERE status <> 'resolved' GROUP BY 1 ORDER BY 1"
    )
    return {
        "records": records,
        "open_duplicates": rows(
            "SELECT count(*) FROM hubsync.potential_duplicates WHERE resolved_at IS NULL"
        )[0][0],
        "net_new_prospects": {
            "people": rows("SELECT count(*) FROM hubsync.net_new_people")[0][0],
            "organizations": rows("SELECT count(*) FROM hubsync.net_new_organizations")[0][0],
        },
        "outbox": {
            "unpublished": outbox[0],
            "oldest_unpublished_age_s": float(outbox[1]) if outbox[1] else None,
        },
        "push_errors_open": dict(errors),
        "field_mappings": {
            "version": mapping_version(conn),
            "workers": [w.to_json() for w in worker_contexts(conn) if w.live],
        },
        "last_polls": [
            {"connector": c, "object_type": o, "at": at.isoformat()}
            for c, o, at in rows(
                "SELECT connector, object_type, updated_at FROM hubsync.connector_cursors ORDER BY 1, 2"
            )
        ],
    }


def kafka_status(settings: Settings, bootstrap: str) -> dict[str, Any]:
    t = settings.topics
    lag = consumer_lag(
        bootstrap,
        f"{settings.consumer_group}.ingest",
        [t.hubspot_contacts, t.hubspot_companies, t.platform_contacts, t.platform_accounts],
    )
    return {
        "consumer_lag": [
            {"group": x.group, "topic": x.topic, "messages": x.end_offsets, "lag": x.lag} for x in lag
        ],
        "dlq_messages": topic_size(bootstrap, t.dlq),
        "push_error_messages": topic_size(bootstrap, t.push_errors),
    }


__all__ = ["KafkaException", "TopicLag", "consumer_lag", "database_status", "kafka_status", "topic_size"]
