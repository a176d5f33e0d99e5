-- The transactional outbox (Debezium outbox event router columns), connector cursors and
-- webhook dedupe keys.

-- id, aggregatetype, aggregateid, type and payload are the columns Debezium's outbox event
-- router reads by default, so a Debezium connector can replace the built-in relay. `seq`
-- orders rows per record for the built-in relay; `published_at` is set by it.
CREATE TABLE hubsync.outbox (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    aggregatetype  varchar(255) NOT NULL,
    aggregateid    varchar(255) NOT NULL,
    type           varchar(255) NOT NULL,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
CREATE INDEX outbox_unpublished_idx ON hubsync.outbox (seq) WHERE published_at IS NULL;

-- Wake the relay as soon as a row is committed (NOTIFY is delivered at commit).
CREATE FUNCTION hubsync.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hubsync_outbox', NEW.seq::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON hubsync.outbox
    FOR EACH ROW EXECUTE FUNCTION hubsync.outbox_notify();

-- Durable positions of the connectors (poller windows, backfill paging, manual pulls).
CREATE TABLE hubsync.connector_cursors (
    connector    text NOT NULL,
    object_type  text NOT NULL CHECK (object_type IN ('contact', 'account')),
    position     jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, object_type)
);

-- Webhook deliveries already accepted. HubSpot's eventId alone is not unique, so the key is a
-- digest of (portalId, subscriptionId, eventId, objectId, occurredAt, propertyName).
CREATE TABLE hubsync.webhook_dedupe (
    event_key    bytea PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_dedupe_received_idx ON hubsync.webhook_dedupe (received_at);
