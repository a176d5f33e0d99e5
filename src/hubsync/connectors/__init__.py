"""Connectors between hubsync and HubSpot: :mod:`hubsync.connectors.hubspot` (the HTTP client,
the sources that read HubSpot into ``hubspot.*.changes``, and the webhook receiver)."""
