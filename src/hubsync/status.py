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
from hubsync.streams.connection import KafkaConnection, as_connection
from hubsync.streams.lag import PartitionLag, partition_lags
from hubsync.streams.topics import consumer_groups


@dataclass(frozen=True, slots=True)
class TopicLag:
    """Messages of ``topic`` the consumer ``group`` has not committed yet (``None``: no commit yet).

    ``end_offsets`` are measured (see :mod:`hubsync.streams.lag`); ``reported_end_offsets`` are the
    broker's, which the embedded dev broker gets wrong (``broker_end_trusted`` false)."""

    group: str
    topic: str
    end_offsets: int
    lag: int | None
    reported_end_offsets: int = 0
    broker_end_trusted: bool = True


def consumer_lag(
    kafka: KafkaConnection | str, group: str, topics: Sequence[str], timeout: float = 10.0
) -> list[TopicLag]:
    """Per topic: the sum over partitions of the end offset - the offset ``group`` committed."""
    by_topic: dict[str, list[PartitionLag]] = {}
    for part in partition_lags(kafka, group, topics, timeout=timeout):
        by_topic.setdefault(part.topic, []).append(part)
    out = []
    for topic in topics:
        parts = by_topic.get(topic)
        if parts is None:
            continue
        end = sum(p.end for p in parts)
        committed = any(p.committed is not None for p in parts)
        out.append(
            TopicLag(
                group,
                topic,
                end,
                sum(p.lag for p in parts) if committed or end else 0,
                sum(p.reported_end for p in parts),
                all(p.broker_end_trusted for p in parts),
            )
        )
    return out


def topic_size(kafka: KafkaConnection | str, topic: str, timeout: float = 10.0) -> int | None:
    """Messages in ``topic`` (sum of high - low watermarks), None when it does not exist."""
    probe = Consumer(as_connection(kafka).client_config(**{"group.id": f"hubsync-status-{uuid.uuid4().hex}"}))
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
        # the public app's installs: how many per status, and why each one that does not sync stopped
        "portals": {
            "by_status": dict(rows("SELECT status, count(*) FROM hubsync.portals GROUP BY 1 ORDER BY 1")),
            "not_syncing": [
                {"portal_id": p, "status": s, "reason": r}
                for p, s, r in rows(
                    "SELECT portal_id, status, status_reason FROM hubsync.portals"
                    " WHERE status IN ('paused', 'revoked') ORDER BY portal_id"
                )
            ],
        },
    }


def kafka_status(settings: Settings, kafka: KafkaConnection | str) -> dict[str, Any]:
    t, groups = settings.topics, consumer_groups(settings)
    lag = [
        *consumer_lag(kafka, groups.changes, [t.hubspot_contacts, t.hubspot_companies]),
        *consumer_lag(kafka, groups.backfill, [t.hubspot_contacts_backfill, t.hubspot_companies_backfill]),
        *consumer_lag(kafka, groups.agents, [t.platform_contacts, t.platform_accounts]),
    ]
    return {
        "consumer_lag": [
            {
                "group": x.group,
                "topic": x.topic,
                "messages": x.end_offsets,
                "lag": x.lag,
                "broker_end_offsets": x.reported_end_offsets,
                "broker_end_trusted": x.broker_end_trusted,
            }
            for x in lag
        ],
        "dlq_messages": topic_size(kafka, t.dlq),
        "push_error_messages": topic_size(kafka, t.push_errors),
    }


__all__ = ["KafkaException", "TopicLag", "consumer_lag", "database_status", "kafka_status", "topic_size"]
