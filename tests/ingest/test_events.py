"""Decoded ``HubSpotChangeEvent`` values as the reducer reads them (:mod:`hubsync.ingest.events`)."""

from __future__ import annotations

from datetime import UTC, datetime

from hubsync.ingest.events import change_event
from tests.ingest.events_factory import base

AT = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_property_timestamps_as_ints_are_kept_as_decoded() -> None:
    value = base("1", "UPDATE", at=AT, property_timestamps={"email": AT - 5, "lastname": AT - 7})
    event = change_event(value)
    assert event.property_timestamps == {"email": AT - 5, "lastname": AT - 7}
    assert event.property_timestamps is value["property_timestamps"]  # not converted one by one
    assert event.property_version("email") == AT - 5 and event.property_version("company") == AT


def test_property_timestamps_as_datetimes_become_unix_ms() -> None:
    """What a decoder that keeps ``timestamp-millis`` as datetimes gives (fastavro's default), also
    mixed with ints: every value comes out in Unix ms."""
    stamps = {"email": _at(AT - 5), "lastname": AT - 7, "company": _at(AT - 9)}
    value = base("1", "UPDATE", at=AT) | {"occurred_at": _at(AT), "property_timestamps": stamps}
    event = change_event(value)
    assert event.property_timestamps == {"email": AT - 5, "lastname": AT - 7, "company": AT - 9}
    assert all(type(v) is int for v in event.property_timestamps.values())
    assert event.occurred_at == AT
