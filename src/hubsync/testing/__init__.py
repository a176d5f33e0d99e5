"""Real Apache Kafka and PostgreSQL servers for the test suite and CI.

In-process (pytest fixtures)::

    with ApacheKafkaServer() as kafka, PostgresServer() as pg:
        use(kafka.bootstrap_servers, pg.url)

Detached (CI, a developer's shell), see ``python -m hubsync.testing --help``::

    eval "$(python -m hubsync.testing up)"   # exports KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL
    python -m hubsync.testing down

And the test suite's small helpers: :func:`wait_for` / :func:`async_wait_for` (poll a condition
until it holds) and :class:`FakeKafkaRecord` (a consumed Kafka message made up by a test).
"""

from hubsync.testing.databases import fresh_database, with_database
from hubsync.testing.kafka_server import (
    KAFKA_VERSION,
    ApacheKafkaServer,
    KafkaServerError,
    broker_software_version,
    fetch_jars,
    kafka_release,
)
from hubsync.testing.postgres_server import PostgresServer, PostgresServerError
from hubsync.testing.records import FakeKafkaRecord
from hubsync.testing.waiting import WaitTimeoutError, async_wait_for, wait_for

__all__ = [
    "KAFKA_VERSION",
    "ApacheKafkaServer",
    "FakeKafkaRecord",
    "KafkaServerError",
    "PostgresServer",
    "PostgresServerError",
    "WaitTimeoutError",
    "async_wait_for",
    "broker_software_version",
    "fetch_jars",
    "fresh_database",
    "kafka_release",
    "wait_for",
    "with_database",
]
