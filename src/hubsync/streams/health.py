"""Readiness checks of the Kafka cluster for ``/readyz`` (:mod:`hubsync.health`)."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from hubsync.health import Check
from hubsync.streams.connection import KafkaConnection, as_connection

#: seconds a readiness check may wait for the cluster's metadata
METADATA_TIMEOUT_S = 2.0


def broker_check(kafka: KafkaConnection | str) -> Check:
    """The cluster answers a metadata request."""
    admin = AdminClient(as_connection(kafka).client_config(**{"socket.timeout.ms": 2000}))

    def check() -> str:
        metadata = admin.list_topics(timeout=METADATA_TIMEOUT_S)
        if not metadata.brokers:
            raise RuntimeError("no broker in the cluster's metadata")
        return f"{len(metadata.brokers)} broker(s)"

    return check
