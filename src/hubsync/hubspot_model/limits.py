"""HubSpot's API limits (see ``shared/hubspot-facts.md`` for the sources).

The client paces itself by these, and the sandbox enforces the same numbers by default.
"""

from __future__ import annotations

from enum import StrEnum

#: inputs per batch read/create/update/upsert/archive request
BATCH_LIMIT = 100
#: inputs per associations v4 batch read (the other v4 batch endpoints take :data:`BATCH_LIMIT`)
ASSOCIATIONS_READ_BATCH_LIMIT = 1_000
#: records per page of a list request
LIST_PAGE_LIMIT = 100
#: burst limit of a Professional/Enterprise private app: requests per rolling window
BURST_LIMIT = 190
#: the rolling burst window, in seconds
BURST_WINDOW_S = 10.0
#: search requests per second per portal
SEARCH_REQUESTS_PER_SECOND = 5
#: results one search query can page through; past it HubSpot answers 400
SEARCH_RESULT_CAP = 10_000
#: events per webhook request HubSpot sends at most
WEBHOOK_BATCH_LIMIT = 100


class RateLimitPolicy(StrEnum):
    """HubSpot's ``policyName`` of a 429 answer."""

    TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
    SECONDLY = "SECONDLY"
    DAILY = "DAILY"
