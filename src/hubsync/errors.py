"""One exception tree for hubsync, sorted by what the caller should do next.

- :class:`RetriableError`: the same operation may succeed later (429, 5xx, 477, a dropped
  connection, a broker or database restart). Retry with backoff.
- :class:`FatalError`: retrying cannot help and the component should stop (bad credentials,
  a missing scope, misconfiguration). Report it and exit.
- :class:`SkippableRecordError`: this one record is bad (undecodable, invalid value, rejected
  by a validation rule). Send it to the DLQ or error log and carry on with the others.
- :class:`RejectedRequestError`: the caller asked for something that cannot be done as asked
  (an unknown record, an invalid field value or setting, a malformed webhook body). Nothing was
  changed; tell the caller (a CLI message and exit code, a 4xx answer), who may correct it.

Every exception hubsync raises on purpose derives from one of these four; exceptions defined
elsewhere in the package subclass them (adding a builtin base such as ``ValueError`` where
callers relied on it), which ``tests/test_errors.py`` checks. The sandbox, a stand-in for
HubSpot, is the exception: its errors are HubSpot's answers, not hubsync's.
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


class ConfigurationError(FatalError):
    """A setting is missing, invalid, or names a file that does not exist. Commands let it reach
    the CLI's entry point, which exits with the configuration exit code (3)."""


class SkippableRecordError(HubsyncError):
    """This record cannot be processed; park it (DLQ / error log) and continue."""


class RejectedRequestError(HubsyncError):
    """The request cannot be done as asked; nothing was changed. Tell the caller."""


class UndecodableMessageError(SkippableRecordError):
    """A Kafka message whose value is not valid Avro for the expected schema."""


class SchemaError(FatalError):
    """A schema file is missing, malformed or not compatible with the released versions."""
