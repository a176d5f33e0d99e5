"""The Kafka ACLs each component needs, and a check at start that the cluster grants them.

:func:`component_grants` is the one list of what each component does on the cluster;
``docs/deploy.md`` prints it (a test keeps the two equal) and CI runs every component against an
Apache Kafka broker with the StandardAuthorizer granting exactly that list.

:func:`authenticated_admin` and :func:`verify_grants` run when a component starts. A wrong
password, a refused certificate or a missing ACL otherwise shows as librdkafka retrying in the
background: a producer that waits for acknowledgements that never come, a consumer that never
gets an assignment. The check asks the cluster instead (the authorized operations of KIP-430 on
each topic, group and the cluster) and ends in :class:`KafkaAuthenticationError` or
:class:`KafkaAuthorizationError`, each naming what to fix, which the command line turns into exit
code 3.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient

from hubsync.errors import ConfigurationError, RetriableError
from hubsync.settings import Settings
from hubsync.streams.connection import KafkaConnection, as_connection
from hubsync.streams.topics import consumer_groups

#: errors librdkafka reports when the broker refuses who we are (not a network error)
_AUTHENTICATION_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
#: the broker's answers to a describe the principal's ACLs do not allow
_DENIED = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }
)
#: ``docs/deploy.md#kafka-acls``: where the per-component list is
ACL_DOCS = "docs/deploy.md#kafka-acls"
#: librdkafka's own log lines (each failed connection attempt) go to Python logging, not stderr
_librdkafka_log = logging.getLogger("hubsync.kafka.client")


class KafkaAuthenticationError(ConfigurationError, RuntimeError):
    """The cluster refused the credentials (SASL password, client certificate, TLS trust)."""


class KafkaAuthorizationError(ConfigurationError, RuntimeError):
    """The principal lacks an ACL the component needs, or a topic it needs does not exist."""


class Resource(StrEnum):
    TOPIC = "Topic"
    GROUP = "Group"
    CLUSTER = "Cluster"


class Operation(StrEnum):
    """ACL operations, spelt as ``kafka-acls --operation`` and the Kafka docs spell them."""

    READ = "Read"
    WRITE = "Write"
    DESCRIBE = "Describe"
    DESCRIBE_CONFIGS = "DescribeConfigs"
    ALTER_CONFIGS = "AlterConfigs"
    CREATE = "Create"

    @property
    def acl_operation(self) -> AclOperation:
        return {
            Operation.READ: AclOperation.READ,
            Operation.WRITE: AclOperation.WRITE,
            Operation.DESCRIBE: AclOperation.DESCRIBE,
            Operation.DESCRIBE_CONFIGS: AclOperation.DESCRIBE_CONFIGS,
            Operation.ALTER_CONFIGS: AclOperation.ALTER_CONFIGS,
            Operation.CREATE: AclOperation.CREATE,
        }[self]


@dataclass(frozen=True, slots=True)
class Grant:
    """Operations on one literal resource (the cluster is named ``kafka-cluster``)."""

    resource: Resource
    name: str
    operations: tuple[Operation, ...]


#: the components, as ``docs/deploy.md`` names them (commands in brackets)
COMPONENTS = ("webhook", "poller", "worker", "relay", "topics", "status")


def component_grants(component: str, settings: Settings) -> tuple[Grant, ...]:
    """What ``component`` does on the cluster with ``settings``' topic and group names.

    * ``webhook`` (``hubsync webhook``) and ``poller`` (``hubsync poller``, ``hubsync pull``)
      produce HubSpot change events; both check their topics' configs at start.
    * ``worker`` (``hubsync worker``; ``hubsync run`` needs the worker's, relay's and poller's)
      consumes the change topics in its three groups (:class:`~hubsync.streams.topics.ConsumerGroups`)
      and produces canonical records, push errors and dead letters.
    * ``relay`` (``hubsync relay``) publishes the outbox: platform changes, canonical records of
      merges, and dead letters.
    * ``topics`` (``hubsync topics create``, the chart's pre-install Job) creates the topics and,
      with ``--apply``, changes their configs.
    * ``status`` (``hubsync status``) reads the groups' offsets and the topics' sizes.
    """
    t = settings.topics
    realtime = (t.hubspot_contacts, t.hubspot_companies)
    change = (*realtime, t.hubspot_contacts_backfill, t.hubspot_companies_backfill)
    platform = (t.platform_contacts, t.platform_accounts)
    crm = (t.crm_contacts, t.crm_accounts)
    every = (*change, *platform, *crm, t.push_errors, t.dlq)
    groups = consumer_groups(settings)
    every_group = (groups.agents, *groups.ingest)
    r, w, d, dc = Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS
    if component == "webhook":
        return _topics(realtime, w, dc)
    if component == "poller":  # the incremental poll and pulls by id: realtime; full reads: backfill
        return _topics(change, w, dc)
    if component == "worker":
        return (
            *(Grant(Resource.GROUP, group, (r,)) for group in every_group),
            *_topics((*change, *platform), r, dc),
            *_topics((*crm, t.push_errors, t.dlq), w, dc),
        )
    if component == "relay":
        return (*_topics((*platform, *crm, t.dlq), w, dc),)
    if component == "topics":
        return (
            Grant(Resource.CLUSTER, "kafka-cluster", (Operation.CREATE,)),
            # Describe: a created topic is visible to its creator only with it
            *_topics(every, d, dc, Operation.ALTER_CONFIGS),
        )
    if component == "status":
        # the lag reads each partition's last batch (Apache Kafka's end offset is exact, Tansu's is not)
        return (
            *(Grant(Resource.GROUP, group, (d,)) for group in every_group),
            *_topics((*change, *platform), r),
            *_topics((t.push_errors, t.dlq), d),
        )
    raise ValueError(f"unknown component {component!r}; one of {', '.join(COMPONENTS)}")


def _topics(names: Iterable[str], *operations: Operation) -> tuple[Grant, ...]:
    return tuple(Grant(Resource.TOPIC, name, operations) for name in names)


def authenticated_admin(kafka: KafkaConnection | str, *, timeout: float = 20.0) -> AdminClient:
    """An admin client of a cluster that answered and accepted the credentials
    (:class:`KafkaAuthenticationError` as soon as it refuses them; :class:`RetriableError` when it
    does not answer within ``timeout``)."""
    connection = as_connection(kafka)
    refused: list[KafkaError] = []

    def on_error(error: KafkaError) -> None:
        if _is_refusal(error):
            refused.append(error)

    admin = AdminClient(
        connection.client_config(error_cb=on_error, **{"socket.timeout.ms": 10_000}), logger=_librdkafka_log
    )
    _wait_for_metadata(admin, connection, refused, timeout)
    return admin


def verify_grants(
    admin: AdminClient,
    kafka: KafkaConnection | str,
    grants: Sequence[Grant],
    *,
    component: str,
    timeout: float = 20.0,
) -> None:
    """Raise unless the principal of ``admin`` (an :func:`authenticated_admin`) has every operation of
    ``grants``. Topics must exist (a component is started after ``hubsync topics create``); a group
    need not."""
    connection = as_connection(kafka)
    missing: list[str] = []
    by_resource: dict[Resource, list[Grant]] = {}
    for grant in grants:
        by_resource.setdefault(grant.resource, []).append(grant)
    for grant, allowed in _authorized_retrying(admin, by_resource, timeout):
        if allowed is None:
            continue  # the broker does not report authorized operations (KIP-430): nothing to check
        lacking = [op for op in grant.operations if op.acl_operation not in allowed]
        if lacking:
            ops = ", ".join(op.value for op in lacking)
            missing.append(f"{ops} on {grant.resource.value} {grant.name}")
    if missing:
        raise KafkaAuthorizationError(
            f"the {component} cannot do its work as {_principal(connection)} on "
            f"{connection.bootstrap_servers}: it lacks {'; '.join(missing)} "
            f"(the ACLs each component needs: {ACL_DOCS})"
        )


def _is_refusal(error: KafkaError) -> bool:
    """A refused SASL login, an untrusted broker certificate, or the broker's TLS alert for a missing
    or untrusted client certificate (which librdkafka reports as a transport error)."""
    if error.code() in _AUTHENTICATION_CODES:
        return True
    return error.code() == KafkaError._TRANSPORT and "SSL" in error.str() and "alert" in error.str()


def _principal(connection: KafkaConnection) -> str:
    if connection.uses_sasl:
        return f"User:{connection.sasl_username}"
    if connection.ssl_certificate_location is not None:
        return f"the principal of {connection.ssl_certificate_location}"
    return "User:ANONYMOUS"


def _wait_for_metadata(
    admin: AdminClient, connection: KafkaConnection, refused: list[KafkaError], timeout: float
) -> None:
    """Return once the cluster answers; fail as soon as librdkafka reports refused credentials."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException:
            pass
        admin.poll(0)  # serve error_cb
        if refused:
            raise KafkaAuthenticationError(
                f"the Kafka cluster at {connection} refused the credentials: {refused[0].str()} "
                "(check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD or the client certificate, "
                "and KAFKA_SSL_CA_LOCATION)"
            )
        if time.monotonic() >= deadline:
            raise RetriableError(
                f"the Kafka cluster at {connection} did not answer within {timeout:.0f} s "
                "(is it up, and does KAFKA_SECURITY_PROTOCOL match its listener?)"
            )


def _authorized_retrying(
    admin: AdminClient, by_resource: dict[Resource, list[Grant]], timeout: float
) -> list[tuple[Grant, set[AclOperation] | None]]:
    """:func:`_authorized`, asked again while the cluster answers with a transient error (a group
    coordinator moving or still loading, as on a new cluster), until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _authorized(admin, by_resource, timeout)
        except RetriableError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _authorized(
    admin: AdminClient, by_resource: dict[Resource, list[Grant]], timeout: float
) -> list[tuple[Grant, set[AclOperation] | None]]:
    """Each grant with the operations the cluster says the principal may do: empty when it may not
    even describe the resource, None when the broker does not say (Tansu, the embedded dev broker)."""
    out: list[tuple[Grant, set[AclOperation] | None]] = []
    topics = by_resource.get(Resource.TOPIC, [])
    if topics:
        names = sorted({g.name for g in topics})
        futures = admin.describe_topics(
            TopicCollection(names), request_timeout=timeout, include_authorized_operations=True
        )
        allowed: dict[str, set[AclOperation] | None] = {}
        for name, future in futures.items():
            try:
                allowed[name] = _operations(future.result().authorized_operations)
            except KafkaException as exc:
                error = exc.args[0]
                if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise KafkaAuthorizationError(
                        f"topic {name} does not exist, or this principal may not see it (it needs Describe): "
                        "run `hubsync topics create`, or grant the ACLs"
                    ) from exc
                allowed[name] = _denied(exc, f"topic {name}")
        out += [(g, allowed[g.name]) for g in topics]
    groups = by_resource.get(Resource.GROUP, [])
    if groups:
        futures = admin.describe_consumer_groups(
            sorted({g.name for g in groups}), request_timeout=timeout, include_authorized_operations=True
        )
        group_allowed: dict[str, set[AclOperation] | None] = {}
        for name, future in futures.items():
            try:
                group_allowed[name] = _operations(future.result().authorized_operations)
            except KafkaException as exc:
                group_allowed[name] = _denied(exc, f"group {name}")
        out += [(g, group_allowed[g.name]) for g in groups]
    clusters = by_resource.get(Resource.CLUSTER, [])
    if clusters:
        try:
            description = admin.describe_cluster(
                request_timeout=timeout, include_authorized_operations=True
            ).result()
        except KafkaException as exc:
            raise RetriableError(f"the cluster could not be described: {exc}") from exc
        cluster_allowed = _operations(description.authorized_operations)
        out += [(g, cluster_allowed) for g in clusters]
    return out


def _denied(exc: KafkaException, what: str) -> set[AclOperation]:
    """No operation at all for a refused describe; any other error (a timeout, a coordinator still
    loading on a new cluster) is not an ACL's fault: retriable."""
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError) and error.code() in _DENIED:
        return set()
    raise RetriableError(f"the cluster did not describe {what}: {exc}") from exc


def _operations(reported: list[AclOperation] | None) -> set[AclOperation] | None:
    return None if reported is None else set(reported)
