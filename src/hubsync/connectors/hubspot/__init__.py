"""Everything that talks to HubSpot over the network, grouped by what it is:

- :mod:`~hubsync.connectors.hubspot.http`: the API client (:class:`HubSpotClient`), its rate
  limits and retries, the one function that classifies an answer, batch results, its errors;
- :mod:`~hubsync.connectors.hubspot.sources`: what reads HubSpot into ``hubspot.*.changes``:
  the incremental poller, full backfills, manual pulls by id, and the change events they publish;
- :mod:`~hubsync.connectors.hubspot.webhooks`: the webhook receiver (signatures checked,
  bodies parsed, events published once: :mod:`~hubsync.connectors.hubspot.webhooks.event_keys`
  remembers which webhook events were published) and the reads of full records it asks for.

HubSpot's own rules (object types, limits, error categories, signatures) live in
:mod:`hubsync.hubspot_model`, which the sandbox shares.
"""
