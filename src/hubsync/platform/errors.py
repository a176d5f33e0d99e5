"""Errors of platform-side writes: each names what was wrong, and nothing was written."""

from __future__ import annotations

from hubsync.errors import RejectedRequestError


class PlatformWriteError(RejectedRequestError, ValueError):
    """A platform-side write was refused; the transaction wrote nothing."""


class RecordNotFound(PlatformWriteError):  # noqa: N818 (name fixed by the issue)
    """No contact or account has this record id."""

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        super().__init__(f"no contact or account has record id {record_id}")


class InvalidField(PlatformWriteError):  # noqa: N818
    """A field name that is not a HubSpot property name, or one the platform may not write."""


class InvalidFieldValue(PlatformWriteError):  # noqa: N818 (name fixed by the issue)
    """A value HubSpot's property definition refuses (or a mapped field without a definition)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid value for field {field!r}: {reason}")


class RecordNotWritable(PlatformWriteError):  # noqa: N818
    """The record exists but takes no more platform-side changes (merged away, deleted, erased)."""


class InvalidMerge(PlatformWriteError):  # noqa: N818
    """Two records that cannot be merged (different object types, the same record, ...)."""


class NoEnrichmentValue(PlatformWriteError):  # noqa: N818
    """No value given for a manual enrichment and the prospect database has none either."""


class InvalidSetting(PlatformWriteError):  # noqa: N818
    """An unknown settings key, or a value the key does not take."""


class InvalidProspectFile(PlatformWriteError):  # noqa: N818
    """A prospect CSV file with bad rows: nothing of it was loaded."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        super().__init__(f"the prospect file was not loaded: {shown}")


class ProspectNotFound(PlatformWriteError):  # noqa: N818
    """No prospect person (or organization) has this id."""

    def __init__(self, prospect_id: int, *, organization: bool = False) -> None:
        self.prospect_id = prospect_id
        super().__init__(f"no prospect {'organization' if organization else 'person'} has id {prospect_id}")
