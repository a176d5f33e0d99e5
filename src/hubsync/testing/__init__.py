"""Real Apache Kafka and PostgreSQL servers for the test suite and CI.

In-process (pytest fixtures)::

    with ApacheKafkaServer() as kafka, PostgresServer() as pg:
        use(kafka.bootstrap_servers, pg.url)

Detached (CI, a developer's shell), see ``python -m hubsync.testing --help``::

    eval "$(python -m hubsync.testing up)"   # exports KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL
    python -m hubsync.testing down
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

__all__ = [
    "KAFKA_VERSION",
    "ApacheKafkaServer",
    "KafkaServerError",
    "PostgresServer",
    "PostgresServerError",
    "broker_software_version",
    "fetch_jars",
    "fresh_database",
    "kafka_release",
    "with_database",
]
