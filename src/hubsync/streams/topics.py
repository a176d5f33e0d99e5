"""The topics of hubsync, their Avro contracts and their Kafka configuration.

Every topic named in :class:`hubsync.settings.TopicNames` has one :class:`TopicSpec`: which
schema its values follow, what its key is, and whether it is compacted. ``crm.*`` topics are
compacted (the latest value per record is the record's state); the change topics keep history
for ``hubsync replay``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hubsync.settings import Settings, TopicNames

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What a topic carries and how it is configured."""

    role: str
    name: str
    schema_stem: str
    key: str
    compacted: bool
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


# role (the TopicNames field) -> (schema stem, key description, compacted, retention in days)
_CONTRACTS: dict[str, tuple[str, str, bool, int]] = {
    "hubspot_contacts": ("hubspot_change_event", "HubSpot contact id", False, 30),
    "hubspot_companies": ("hubspot_change_event", "HubSpot company id", False, 30),
    "hubspot_contacts_backfill": ("hubspot_change_event", "HubSpot contact id", False, 7),
    "hubspot_companies_backfill": ("hubspot_change_event", "HubSpot company id", False, 7),
    "platform_contacts": ("platform_change_event", "platform record id", False, 30),
    "platform_accounts": ("platform_change_event", "platform record id", False, 30),
    "crm_contacts": ("crm_contact", "platform record id", True, 0),
    "crm_accounts": ("crm_account", "platform record id", True, 0),
    "push_errors": ("push_error", "platform record id", False, 30),
    "dlq": ("dead_letter", "original message key", False, 30),
}


def topic_specs(settings: Settings) -> tuple[TopicSpec, ...]:
    """One spec per topic, with the names and partition counts from ``settings``."""
    names: TopicNames = settings.topics
    specs = []
    for role in TopicNames.model_fields:
        stem, key, compacted, retention_days = _CONTRACTS[role]
        config = {"cleanup.policy": "compact" if compacted else "delete"}
        if compacted:
            # let the cleaner compact soon after a segment rolls, and keep tombstones a day
            config["min.cleanable.dirty.ratio"] = "0.1"
            config["delete.retention.ms"] = str(DAY_MS)
        else:
            config["retention.ms"] = str(retention_days * DAY_MS)
        specs.append(
            TopicSpec(
                role=role,
                name=getattr(names, role),
                schema_stem=stem,
                key=key,
                compacted=compacted,
                partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                config=config,
            )
        )
    return tuple(specs)


def spec_for(settings: Settings, role: str) -> TopicSpec:
    for spec in topic_specs(settings):
        if spec.role == role:
            return spec
    raise KeyError(f"no topic with role {role!r}; roles: {', '.join(TopicNames.model_fields)}")


@dataclass(frozen=True, slots=True)
class ConsumerGroups:
    """The worker's consumer groups, all named after ``HUBSYNC_CONSUMER_GROUP``.

    * ``agents`` (``<group>.ingest``): the Faust app's, whose agents push platform changes; until
      ingest moved to librdkafka it consumed the HubSpot change topics too, so the two ingest groups
      start a partition they never committed at its offset there;
    * ``changes`` (``<group>.ingest.changes``): ingest's realtime lane, ``hubspot.*.changes``;
    * ``backfill`` (``<group>.ingest.backfill``): ingest's backfill lane, ``hubspot.*.backfill``
      (a group of its own, so a backfill batch waiting for its turn never holds up a rebalance of
      the realtime lane).
    """

    agents: str
    changes: str
    backfill: str

    @property
    def ingest(self) -> tuple[str, str]:
        return self.changes, self.backfill


def consumer_groups(settings: Settings) -> ConsumerGroups:
    base = f"{settings.consumer_group}.ingest"
    return ConsumerGroups(agents=base, changes=f"{base}.changes", backfill=f"{base}.backfill")
