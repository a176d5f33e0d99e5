"""The HubSpot API client: one :class:`~hubsync.connectors.hubspot.http.client.HubSpotClient`
per portal over httpx, paced by per-portal rate-limit buckets with priority lanes
(:mod:`~hubsync.connectors.hubspot.http.ratelimit`), every answer classified by one function
(:mod:`~hubsync.connectors.hubspot.http.classify`) and retried by hubsync's backoff policy."""
