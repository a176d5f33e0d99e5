"""One exception tree for hubsync, sorted by what the caller should do next.

- :class:`RetriableError`: the same operation may succeed later (429, 5xx, 477, a dropped
  connection, a broker or database restart). Retry with backoff.
- :class:`FatalError`: retrying cannot help and the component should stop (bad credentials,
  a missing scope, misconfiguration). Report it and exit.
- :class:`SkippableRecordError`: this one record is bad (undecodable, invalid value, rejected
  by a validation rule). Send it to the DLQ or error log and carry on with the others.
"""

from __future__ import annotations


class HubsyncError(Exception):
    """Base of every error hubsync raises on purpose."""


class RetriableError(HubsyncError):
    """Try again later; ``retry_after`` (seconds) when the peer said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(HubsyncError):
    """Stop: retrying will not help until a person fixes something."""


class SkippableRecordError(HubsyncError):
    """This record cannot be processed; park it (DLQ / error log) and continue."""


class UndecodableMessageError(SkippableRecordError):
    """A Kafka message whose value is not valid Avro for the expected schema."""


class SchemaError(FatalError):
    """A schema file is missing, malformed or not compatible with the released versions."""
