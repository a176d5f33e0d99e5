"""Settings of one sandbox instance."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves. Defaults follow a Professional/Enterprise portal."""

    #: Bearer token clients must send; None accepts any token (still requires the header)
    access_token: SecretStr | None = None
    portal_id: int = 62515
    #: the app whose API writes are reported with changeSource INTEGRATION and this sourceId
    app_id: int = 1160452
    #: requests per rolling burst window (HubSpot: 190 per 10 s on Professional/Enterprise)
    burst_limit: int = 190
    burst_window_s: float = 10.0
    daily_limit: int = 1_000_000
    #: search requests per second (HubSpot: 5)
    search_per_second: int = 5
    #: search results reachable through paging, per query (HubSpot: 10,000)
    search_result_cap: int = 10_000
    batch_limit: int = 100
    #: webhook delivery: target URL, app secret used for the signatures, batching and concurrency
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_batch_size: int = 100
    webhook_max_concurrency: int = 10
    webhook_max_attempts: int = 10
    webhook_timeout_s: float = 5.0
    #: base of the exponential backoff between webhook retries (HubSpot spreads 10 tries over ~24 h;
    #: the sandbox compresses that so tests see retries within seconds)
    webhook_retry_base_s: float = 0.2
    webhook_retry_max_s: float = 10.0
    #: how long the dispatcher waits to fill a batch before sending a partial one
    webhook_linger_s: float = 0.05
