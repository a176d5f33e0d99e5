"""Configuration of the HubSpot client: limits, timeouts and the retry policy."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import SecretStr

from hubsync.backoff import Backoff
from hubsync.connectors.hubspot.http.auth import TokenSource
from hubsync.connectors.hubspot.http.fairness import FairShare
from hubsync.errors import FatalError
from hubsync.hubspot_model.limits import BATCH_LIMIT, BURST_LIMIT, BURST_WINDOW_S, SEARCH_REQUESTS_PER_SECOND
from hubsync.settings import Settings

DEFAULT_BASE_URL = "https://api.hubapi.com"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (AWS's "full jitter": a uniform draw in
    ``[0, min(max_backoff, base * 2**(attempt-1))]``). A server-given wait (``Retry-After``, the
    429 policy) is a floor; a wait longer than ``max_retry_after_s`` is not slept but handed to
    the caller as :class:`~hubsync.errors.RetriableError` with ``retry_after`` set."""

    max_attempts: int = 6
    base_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter: bool = True
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("need max_attempts >= 1")
        Backoff(self.base_backoff_s, self.max_backoff_s)  # refuses a negative or inverted range

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.base_backoff_s, self.max_backoff_s, jitter=self.jitter)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = self.backoff
        if retry_after is None:
            return backoff.delay(attempt, rng)
        # spread the retries of many waiters over a little time after the floor
        spread = rng.uniform(0.0, min(backoff.cap(attempt), self.base_backoff_s)) if self.jitter else 0.0
        return retry_after + spread


@dataclass(frozen=True, slots=True)
class HubSpotClientConfig:
    """How one :class:`~hubsync.connectors.hubspot.http.client.HubSpotClient` talks to a portal.

    ``burst_limit``/``burst_window_s`` and ``search_per_second`` are the starting estimates of
    the portal's limits (Professional/Enterprise: 190 per 10 s, search 5 per second); the
    ``X-HubSpot-RateLimit-*`` headers replace the burst values on the first answer.
    """

    #: a private app's token, or None with a ``token_source`` (a portal's OAuth tokens)
    access_token: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    write_timeout_s: float = 30.0
    pool_timeout_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    burst_limit: int = BURST_LIMIT
    burst_window_s: float = BURST_WINDOW_S
    search_per_second: int = SEARCH_REQUESTS_PER_SECOND
    max_concurrency: int = 10
    batch_size: int = BATCH_LIMIT
    user_agent: str = "hubsync"
    token_source: TokenSource | None = field(default=None, repr=False, compare=False)
    #: the process's share of HubSpot requests across portals (:mod:`.fairness`), when it serves many
    fair_share: FairShare | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token_source is None and (
            self.access_token is None or not self.access_token.get_secret_value()
        ):
            raise FatalError("the HubSpot access token is empty (set HUBSPOT_ACCESS_TOKEN)")
        if not 1 <= self.batch_size <= 100:
            raise ValueError(f"batch_size must be within 1..100, got {self.batch_size}")
        if min(self.burst_limit, self.search_per_second, self.max_concurrency) < 1:
            raise ValueError("burst_limit, search_per_second and max_concurrency must be positive")

    @classmethod
    def from_settings(
        cls, settings: Settings, *, token_source: TokenSource | None = None, **overrides: Any
    ) -> HubSpotClientConfig:
        """From hubsync's settings (``HUBSPOT_ACCESS_TOKEN``, ``HUBSPOT_BASE_URL``, the
        ``HUBSYNC_HUBSPOT_*_TIMEOUT_S`` timeouts)."""
        if settings.hubspot_access_token is None and token_source is None:
            raise FatalError("HUBSPOT_ACCESS_TOKEN is not set")
        config = cls(
            access_token=settings.hubspot_access_token,
            token_source=token_source,
            base_url=settings.hubspot_base_url,
            connect_timeout_s=settings.hubspot_connect_timeout_s,
            read_timeout_s=settings.hubspot_read_timeout_s,
            write_timeout_s=settings.hubspot_write_timeout_s,
            pool_timeout_s=settings.hubspot_pool_timeout_s,
        )
        return replace(config, **overrides) if overrides else config
