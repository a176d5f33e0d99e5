"""``KafkaSink``: an idempotent confluent-kafka producer that publishes Avro values and
returns only once the broker acknowledged every message.

Callers (poller, webhook receiver, relay) commit their own cursor or answer their caller only
after :meth:`KafkaSink.publish` returned, which gives at-least-once delivery end to end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from hubsync.avro.codec import AvroCodec
from hubsync.avro.schemas import AvroSchema
from hubsync.errors import FatalError, RetriableError


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    key: str
    value: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SinkConfig:
    linger_ms: int = 5
    batch_size: int = 512 * 1024
    compression: str = "lz4"
    #: how long publish() waits for acknowledgements before giving up (retriable)
    delivery_timeout_s: float = 60.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def producer_config(self, bootstrap_servers: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,  # acks=all, no duplicates or reordering on retry
            "acks": "all",
            "linger.ms": self.linger_ms,
            "batch.size": self.batch_size,
            "compression.type": self.compression,
            "delivery.timeout.ms": int(self.delivery_timeout_s * 1000),
            **self.extra,
        }


class KafkaSink:
    """Publishes Avro-encoded values to one topic at a time, waiting for acknowledgement."""

    def __init__(self, bootstrap_servers: str, codec: AvroCodec, config: SinkConfig | None = None) -> None:
        self.config = config or SinkConfig()
        self.codec = codec
        self._producer = Producer(self.config.producer_config(bootstrap_servers))

    def publish(self, topic: str, schema: AvroSchema, messages: Sequence[OutgoingMessage]) -> int:
        """Encode and send ``messages``; return when all are acknowledged (raises otherwise)."""
        errors: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(err)

        for message in messages:
            value = self.codec.encode(topic, schema, message.value)
            headers: list[tuple[str, str | bytes | None]] = [
                (k, v.encode()) for k, v in message.headers.items()
            ]
            while True:
                try:
                    self._producer.produce(
                        topic, key=message.key.encode(), value=value, headers=headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)  # local queue full: serve callbacks, then retry
        remaining = self._producer.flush(self.config.delivery_timeout_s)
        if remaining:
            raise RetriableError(f"{remaining} message(s) to {topic} not acknowledged in time")
        if errors:
            first = errors[0]
            text = f"{len(errors)} message(s) to {topic} failed: {first.str()}"
            if first.fatal() or not first.retriable():
                raise FatalError(text)
            raise RetriableError(text)
        return len(messages)

    def close(self) -> None:
        self._producer.flush(self.config.delivery_timeout_s)
