"""Settings of one sandbox instance."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from hubsync.hubspot_model.limits import (
    BATCH_LIMIT,
    BURST_LIMIT,
    BURST_WINDOW_S,
    SEARCH_REQUESTS_PER_SECOND,
    SEARCH_RESULT_CAP,
    WEBHOOK_BATCH_LIMIT,
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves. Defaults follow a Professional/Enterprise portal."""

    #: Bearer token clients must send; None accepts any token (still requires the header)
    access_token: SecretStr | None = None
    portal_id: int = 62515
    #: the public app's OAuth credentials (``/oauth/*``); None: OAuth is not served
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    #: how long an OAuth access token lives (HubSpot: 1800 s)
    oauth_access_token_ttl_s: float = 1800.0
    #: the app whose API writes are reported with changeSource INTEGRATION and this sourceId
    app_id: int = 1160452
    #: requests per rolling burst window (HubSpot: 190 per 10 s on Professional/Enterprise)
    burst_limit: int = BURST_LIMIT
    burst_window_s: float = BURST_WINDOW_S
    daily_limit: int = 1_000_000
    #: search requests per second (HubSpot: 5)
    search_per_second: int = SEARCH_REQUESTS_PER_SECOND
    #: search results reachable through paging, per query (HubSpot: 10,000)
    search_result_cap: int = SEARCH_RESULT_CAP
    batch_limit: int = BATCH_LIMIT
    #: webhook delivery: target URL, app secret used for the signatures, batching and concurrency
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_batch_size: int = WEBHOOK_BATCH_LIMIT
    webhook_max_concurrency: int = 10
    webhook_max_attempts: int = 10
    webhook_timeout_s: float = 5.0
    #: base of the exponential backoff between webhook retries (HubSpot spreads 10 tries over ~24 h;
    #: the sandbox compresses that so tests see retries within seconds)
    webhook_retry_base_s: float = 0.2
    webhook_retry_max_s: float = 10.0
    #: how long the dispatcher waits to fill a batch before sending a partial one
    webhook_linger_s: float = 0.05
    #: the request log keeps request and answer bodies and the record ids they name (opt-in;
    #: also ``PUT /_sandbox/requests {"bodies": true}``)
    request_log_bodies: bool = False
