"""Publishing hubsync's own records (dead letters, push errors) to the topic of a role."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.settings import Settings
from hubsync.streams.producer import AsyncKafkaPublisher, EncodedMessage
from hubsync.streams.topics import spec_for

T = TypeVar("T")


class TopicPublisher(ABC, Generic[T]):
    """Encodes items of one kind with the topic's Avro schema, publishes them, waits for Kafka's
    acknowledgement and counts them. Subclasses name the topic role and the default schema, and
    say how an item becomes a message (:meth:`encode`) and how it is counted (:meth:`count`).

    Does not own ``publisher``: start and close it yourself (it can be shared with other topics).
    """

    #: the :class:`~hubsync.settings.TopicNames` field the topic comes from
    ROLE: ClassVar[str]
    #: the schema stem used when none is given
    SCHEMA: ClassVar[str]
    #: the metric set of a registry (made once per registry), kept as :attr:`metrics`
    METRICS: ClassVar[Callable[[CollectorRegistry], Any]]

    def __init__(
        self,
        publisher: AsyncKafkaPublisher,
        codec: AvroCodec,
        topic: str,
        *,
        schema: AvroSchema | None = None,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.publisher = publisher
        self.codec = codec
        self.topic = topic
        self.schema = schema or codec.repository.current(self.SCHEMA)
        self.metrics = type(self).METRICS(registry)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        publisher: AsyncKafkaPublisher,
        codec: AvroCodec,
        *,
        registry: CollectorRegistry = REGISTRY,
    ) -> Self:
        """Publishes to the role's topic with the schema its topic spec names."""
        spec = spec_for(settings, cls.ROLE)
        return cls(
            publisher, codec, spec.name, schema=codec.repository.current(spec.schema_stem), registry=registry
        )

    @abstractmethod
    def encode(self, item: T) -> EncodedMessage: ...

    def count(self, items: Sequence[T]) -> None:
        """Record ``items`` in the metrics once Kafka acknowledged them."""

    async def publish(self, items: Sequence[T], *, timeout_s: float | None = None) -> int:
        """Send ``items``; return their number once Kafka acknowledged all of them. Raises
        :class:`~hubsync.errors.RetriableError` / :class:`~hubsync.errors.FatalError` like
        :meth:`AsyncKafkaPublisher.publish`; the caller must then not commit what caused them."""
        if not items:
            return 0
        encoded = [self.encode(item) for item in items]  # all or nothing: encode first
        sent = await self.publisher.publish(self.topic, encoded, timeout_s=timeout_s)
        self.count(items)
        return sent
