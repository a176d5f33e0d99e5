"""A mirrored record's state, and the versions its properties carry.

Each property carries a version: HubSpot's change time of that property (an int, ms), or, for a
value the platform wrote (autofill, overwrite, manual edits), ``{"at": ms, "rule": ..., "over":
ms}``. The reducer (:mod:`hubsync.ingest.reducer`) and the platform-side writes
(:mod:`hubsync.platform`) compare them; the push planner reads who wrote a value last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

SYNCED = "synced"
NOT_LINKED = "not_linked"
DELETED = "deleted_in_crm"
MERGED_IN_CRM = "merged_in_crm"
MERGED_IN_PLATFORM = "merged_in_platform"
HUBSPOT_ORIGIN = "hubspot"


@dataclass(slots=True)
class RecordState:
    """A mirrored record as the reducer sees it (``record_id`` None: not in the database yet)."""

    hubspot_id: str
    record_id: int | None = None
    creation_source: str = "hubspot"
    crm_status: str = SYNCED
    crm_status_at: int | None = None
    properties: dict[str, str | None] = dc_field(default_factory=dict)
    versions: dict[str, Any] = dc_field(default_factory=dict)
    hubspot_updated_at: int | None = None
    hubspot_created_at: int | None = None
    merged_into_hubspot_id: str | None = None
    erased: bool = False
    #: something to write back
    dirty: bool = False
    #: the personal data was erased by this batch
    erased_now: bool = False


def version_of(stored: Any) -> tuple[int, str]:
    """``(ms, origin)`` of a stored property version (an int from HubSpot, a dict from the platform)."""
    if isinstance(stored, Mapping):
        return int(stored["at"]), str(stored.get("rule", "platform"))
    return int(stored), HUBSPOT_ORIGIN


def replaced_at(stored: Any) -> int:
    """For a platform-written version, the HubSpot version it replaced (-1 if none): a HubSpot
    value at or before it is the one the platform already overrode, not a conflicting change."""
    if isinstance(stored, Mapping) and stored.get("over") is not None:
        return int(stored["over"])
    return -1


#: how many values a platform-written version remembers HubSpot may still hold (:func:`pending_values`)
REMEMBERED_VALUES = 4


def platform_version(at: int, rule: str, previous: Any, replaced: str | None = None) -> dict[str, Any]:
    """The stored version of a value the platform wrote (autofill, overwrite, manual, platform)
    over ``replaced``, the value stored before it (``previous`` its version).

    ``was`` keeps the values HubSpot may still hold until this write reaches it: the one it
    replaced and, while none of the platform's writes has come back from HubSpot, the earlier
    ones (the last :data:`REMEMBERED_VALUES`)."""
    was = [*pending_values(previous), replaced][-REMEMBERED_VALUES:]
    return {"at": at, "rule": rule, "over": None if previous is None else version_of(previous)[0], "was": was}


def pending_values(stored: Any) -> list[str | None]:
    """The values a HubSpot snapshot may still show for a property the platform wrote and HubSpot
    has not confirmed yet (empty for a HubSpot version): holding one is not a change in HubSpot."""
    if isinstance(stored, Mapping):
        return list(stored.get("was", ()))
    return []
