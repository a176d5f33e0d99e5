"""Setup the push path needs in the HubSpot portal: the ``hubsync_record_id`` property.

Every record hubsync creates in HubSpot carries the platform record's id in a unique-value
property, created through the properties API; creates then go through batch upsert on it, so a
create retried after a timeout finds its own earlier create instead of making a second record
(HubSpot does not deduplicate companies by domain).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.errors import HubSpotRecordError
from hubsync.errors import RetriableError
from hubsync.records.kinds import RECORD_ID_PROPERTY

#: HubSpot answers 409 when the property exists already
_EXISTS = 409
_GROUPS: Mapping[str, str] = {"contacts": "contactinformation", "companies": "companyinformation"}


def record_id_property(group: str) -> dict[str, Any]:
    return {
        "name": RECORD_ID_PROPERTY,
        "label": "hubsync record id",
        "description": "The platform record this HubSpot record is linked to (written by hubsync).",
        "groupName": group,
        "type": "string",
        "fieldType": "text",
        "hasUniqueValue": True,
    }


async def ensure_record_id_property(client: HubSpotClient, *, patience_s: float = 300.0) -> list[str]:
    """Create ``hubsync_record_id`` on contacts and companies where missing; returns where it was
    created (an existing one is left as it is). Rate limits and 5xx beyond the client's own
    retries are waited out for up to ``patience_s`` (the push agent cannot work without it)."""
    created: list[str] = []
    deadline = time.monotonic() + patience_s
    for object_type, group in _GROUPS.items():
        delay = 1.0
        while True:
            try:
                await client.create_property(object_type, record_id_property(group))  # type: ignore[arg-type]
            except HubSpotRecordError as exc:
                if exc.details.status != _EXISTS:
                    raise
            except RetriableError:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            else:
                created.append(object_type)
            break
    return created
