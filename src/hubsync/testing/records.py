"""A consumed Kafka message made up by a test, for code that reads messages as
``confluent_kafka.Message`` has them (``hubsync.streams.decode.KafkaRecord``).

    FakeKafkaRecord(b"...", topic="hubspot.contacts.changes", partition=2, offset=41, key=b"1501")
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TIMESTAMP_CREATE_TIME", "TIMESTAMP_NOT_AVAILABLE", "FakeKafkaRecord"]

#: ``confluent_kafka.TIMESTAMP_NOT_AVAILABLE``: the message carries no timestamp
TIMESTAMP_NOT_AVAILABLE = 0
#: ``confluent_kafka.TIMESTAMP_CREATE_TIME``: the producer's timestamp
TIMESTAMP_CREATE_TIME = 1


@dataclass(frozen=True, init=False)
class FakeKafkaRecord:
    """A consumed message: its topic, partition, offset, key, value and ``(type, ms)`` timestamp,
    read through the methods ``confluent_kafka.Message`` has (``record.value()``, ...).

    Only ``value`` is required; by default the record is the first one of partition 0 of
    ``"topic"``, without key or timestamp.
    """

    _topic: str | None
    _partition: int | None
    _offset: int | None
    _key: bytes | None
    _value: bytes | None
    _timestamp: tuple[int, int]

    def __init__(
        self,
        value: bytes | None,
        *,
        topic: str | None = "topic",
        partition: int | None = 0,
        offset: int | None = 0,
        key: bytes | None = None,
        timestamp: tuple[int, int] = (TIMESTAMP_NOT_AVAILABLE, -1),
    ) -> None:
        object.__setattr__(self, "_topic", topic)
        object.__setattr__(self, "_partition", partition)
        object.__setattr__(self, "_offset", offset)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_timestamp", timestamp)

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        """``(timestamp type, milliseconds since the epoch)``, as ``confluent_kafka`` has it."""
        return self._timestamp
