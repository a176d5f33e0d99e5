"""The HubSpot webhook receiver: signatures verified (v1/v2/v3), bodies parsed strictly, events
published to ``hubspot.*.changes`` and acknowledged to HubSpot only after Kafka acknowledged
them, each event published once (:mod:`~hubsync.connectors.hubspot.webhooks.event_keys`); the
full records some events need are read in the background
(:mod:`~hubsync.connectors.hubspot.webhooks.record_fetcher`)."""

#: the path HubSpot POSTs to (here, not in the receiver, so the command line reads it without aiohttp)
DEFAULT_PATH = "/webhooks/hubspot"
