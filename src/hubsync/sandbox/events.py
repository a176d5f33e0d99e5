"""Changes the sandbox reports through webhooks.

The store emits one :class:`ChangeEvent` per change (one per property for a property change,
as HubSpot does); the webhook dispatcher turns them into HubSpot's JSON events, batches,
signs and delivers them. Who made the change travels along: ``change_source`` is HubSpot's
``changeSource`` (``INTEGRATION`` for an app's API write, ``CRM_UI`` for an edit in HubSpot,
``IMPORT``, ``MERGE`` ...) and ``source_id`` names the writer (the app id, a user id).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from hubsync.hubspot_model.objects import HubSpotObjectName

EventKind = Literal[
    "creation",
    "propertyChange",
    "deletion",
    "merge",
    "restore",
    "associationChange",
    "privacyDeletion",
]


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes: ``change_source`` and ``source_id`` as HubSpot reports them."""

    change_source: str
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    object_type: HubSpotObjectName
    kind: EventKind
    object_id: int
    occurred_at_ms: int
    writer: Writer
    property_name: str | None = None
    property_value: str | None = None
    #: merge: the surviving id, the merged-away ids and the new id HubSpot reports
    primary_object_id: int | None = None
    merged_object_ids: tuple[int, ...] = ()
    new_object_id: int | None = None
    #: associationChange: the other side and whether it was removed
    to_object_type: HubSpotObjectName | None = None
    to_object_id: int | None = None
    association_removed: bool = False
    association_type_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: the portal it happened in (None: the sandbox's own ``config.portal_id``)
    portal_id: int | None = None

    @property
    def subscription_type(self) -> str:
        return f"{self.object_type}.{self.kind}"


class EventSink(Protocol):
    """Receives change events as the store commits them (the webhook dispatcher, a test list)."""

    def emit(self, events: list[ChangeEvent]) -> None: ...


class NullSink:
    """Drops events (no webhook URL configured). The store does not even build events for it
    (:attr:`~hubsync.sandbox.store_base.CrmStoreBase.listening`)."""

    def emit(self, events: list[ChangeEvent]) -> None:  # noqa: ARG002
        return None


class PortalSink:
    """Stamps one portal's events with its id and passes them on: every portal of a sandbox sends
    its events to the one app-level dispatcher, which delivers them all to the app's URL."""

    def __init__(self, sink: EventSink, portal_id: int) -> None:
        self.sink = sink
        self.portal_id = portal_id

    def emit(self, events: list[ChangeEvent]) -> None:
        self.sink.emit([replace(event, portal_id=self.portal_id) for event in events])


class ListSink:
    """Keeps events in a list (tests, the control API's event log)."""

    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []

    def emit(self, events: list[ChangeEvent]) -> None:
        self.events.extend(events)
