"""Create the topics of hubsync and reconcile their configuration, with confluent-kafka's AdminClient.

Missing topics are created; an existing topic whose configuration differs from hubsync's defaults
(an operator raised ``retention.ms``, say) is reported, and changed only when asked (``apply``):
components ensure their topics at start and must never undo an operator's choice."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from hubsync.errors import FatalError, RetriableError
from hubsync.settings import Settings
from hubsync.streams.access import ACL_DOCS, KafkaAuthorizationError
from hubsync.streams.connection import KafkaConnection, as_connection, kafka_connection
from hubsync.streams.topics import TopicSpec, spec_for


@dataclass(frozen=True, slots=True)
class TopicsReport:
    created: tuple[str, ...]
    existing: tuple[str, ...]
    reconfigured: tuple[str, ...]
    #: (topic, config key, value it has, hubsync's default) of existing topics, left as they are
    #: unless ``apply`` was given (then they are in ``reconfigured``)
    drift: tuple[tuple[str, str, str | None, str], ...]
    #: (topic, partitions it has, partitions wanted): never changed automatically, since adding
    #: partitions moves keys to other partitions and breaks per-record ordering
    partition_mismatches: tuple[tuple[str, int, int], ...]


#: the broker's answers to a request the principal's ACLs do not allow
_DENIED = frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED})


def admin_client(kafka: KafkaConnection | str, **extra: str) -> AdminClient:
    return AdminClient(as_connection(kafka).client_config(**{"socket.timeout.ms": 10000, **extra}))


def ensure_topics(
    admin: AdminClient, specs: Iterable[TopicSpec], *, apply: bool = False, timeout: float = 30.0
) -> TopicsReport:
    """Create missing topics; report the configs of existing ones that differ from the defaults, and
    set them to the defaults only with ``apply``."""
    wanted = {spec.name: spec for spec in specs}
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise RetriableError(f"Kafka is not reachable: {exc}") from exc
    present = {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}

    missing = [spec for name, spec in wanted.items() if name not in present]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=s.replication_factor,
                    config=s.config,
                )
                for s in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                error = exc.args[0]
                if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue  # another process created it meanwhile
                if isinstance(error, KafkaError) and error.code() in _DENIED:
                    raise KafkaAuthorizationError(
                        f"topic {name} does not exist, or this principal may not see it (Describe), and "
                        "it may not create it: run `hubsync topics create` with the topics job's ACLs "
                        f"({ACL_DOCS})"
                    ) from exc
                raise FatalError(f"cannot create topic {name}: {exc}") from exc

    if created:
        _wait_until_visible(admin, created, timeout)
    existing = [name for name in wanted if name in present]
    drift = _drift(admin, [wanted[n] for n in existing], timeout)
    reconfigured = _apply(admin, drift, timeout) if apply else []
    mismatches = tuple(
        (name, present[name], wanted[name].partitions)
        for name in existing
        if present[name] != wanted[name].partitions
    )
    return TopicsReport(
        tuple(sorted(created)), tuple(sorted(existing)), tuple(reconfigured), tuple(drift), mismatches
    )


def _wait_until_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Wait until the broker's metadata shows new topics: creation is acknowledged by the
    controller before every broker has applied it, and describing a topic too early fails."""
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        topics = admin.list_topics(timeout=timeout).topics
        pending = {n for n in pending if n not in topics or topics[n].error is not None}
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RetriableError(f"created topics not visible after {timeout:.0f}s: {sorted(pending)}")
        time.sleep(0.05)


def describe_topic_configs(
    admin: AdminClient, names: Iterable[str], *, timeout: float = 30.0
) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}
    result: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        try:
            entries = future.result()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() in _DENIED:
                raise KafkaAuthorizationError(
                    f"this principal may not read the configuration of topic {resource.name} (it needs "
                    f"DescribeConfigs; {ACL_DOCS})"
                ) from exc
            raise RetriableError(
                f"the configuration of topic {resource.name} could not be read: {exc}"
            ) from exc
        result[resource.name] = {key: entry.value for key, entry in entries.items()}
    return result


def _drift(
    admin: AdminClient, specs: list[TopicSpec], timeout: float
) -> list[tuple[str, str, str | None, str]]:
    current = describe_topic_configs(admin, [s.name for s in specs], timeout=timeout)
    return [
        (spec.name, key, current.get(spec.name, {}).get(key), want)
        for spec in specs
        for key, want in sorted(spec.config.items())
        if current.get(spec.name, {}).get(key) != want
    ]


def _apply(admin: AdminClient, drift: list[tuple[str, str, str | None, str]], timeout: float) -> list[str]:
    """Set the drifted configs to the defaults; returns the topics changed."""
    by_topic: dict[str, list[ConfigEntry]] = {}
    for topic, key, _have, want in drift:
        by_topic.setdefault(topic, []).append(
            ConfigEntry(key, want, incremental_operation=AlterConfigOpType.SET)
        )
    if not by_topic:
        return []
    changes = [
        ConfigResource(ResourceType.TOPIC, name, incremental_configs=e) for name, e in by_topic.items()
    ]
    for resource, future in admin.incremental_alter_configs(changes, request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            raise FatalError(f"cannot set the configuration of topic {resource.name}: {exc}") from exc
    return sorted(by_topic)


#: the topic roles HubSpot's changes are published to: the realtime lane and the backfill lane
CHANGE_TOPIC_ROLES = (
    "hubspot_contacts",
    "hubspot_companies",
    "hubspot_contacts_backfill",
    "hubspot_companies_backfill",
)


def ensure_change_topics(settings: Settings) -> None:
    """Create the HubSpot change topics (``hubspot.*.changes`` and ``hubspot.*.backfill``) when missing."""
    specs = [spec_for(settings, role) for role in CHANGE_TOPIC_ROLES]
    ensure_topics(admin_client(kafka_connection(settings)), specs)
