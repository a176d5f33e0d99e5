"""The sources that read HubSpot and publish ``hubspot.*.changes``: the incremental poller
(search windows by modification time, a cursor per object type), full backfills by list paging,
and manual pulls by id; all turn records into change events the same way
(:mod:`~hubsync.connectors.hubspot.sources.record_events`)."""
