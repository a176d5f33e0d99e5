-- Canonical records to publish again (docs/subscribers.md, crm.contacts / crm.accounts).
--
-- A record's crm.* value lists its open potential duplicates. A pair flagged, dropped or dismissed outside
-- an ingest batch (a platform-side write or merge, a push HubSpot refused with 409, "not a duplicate" in the
-- console) changes that list for both records, with no outbox row of theirs: the trigger below asks the
-- relay to publish both records again, in the transaction that changed the pair. The relay reads these rows
-- after the outbox's, publishes, and deletes them once Kafka acknowledged. Ingest publishes both records of
-- every pair it flags itself: its transactions say so (hubsync.publishes_canonical = on) and ask for no
-- flagged pair; a pair it drops (a record merged away) is asked for like any other.
CREATE TABLE hubsync.crm_republish_all (
    id            bigserial PRIMARY KEY,
    portal_id     bigint NOT NULL DEFAULT hubsync.current_portal(),
    object_type   text NOT NULL CHECK (object_type IN ('contact', 'account')),
    record_id     bigint NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE VIEW hubsync.crm_republish AS
    SELECT * FROM hubsync.crm_republish_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

CREATE FUNCTION hubsync.duplicates_republish() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pair hubsync.potential_duplicates_all;
BEGIN
    IF TG_OP = 'DELETE' THEN
        pair := OLD;
    ELSE
        pair := NEW;
    END IF;
    -- an update that leaves the open/closed state alone (none today) changes no canonical record
    IF TG_OP = 'UPDATE' AND (OLD.resolved_at IS NULL) = (NEW.resolved_at IS NULL) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' AND coalesce(current_setting('hubsync.publishes_canonical', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO hubsync.crm_republish_all (portal_id, object_type, record_id)
        VALUES (pair.portal_id, pair.object_type, pair.record_a), (pair.portal_id, pair.object_type, pair.record_b);
    PERFORM pg_notify('hubsync_outbox', 'republish');
    RETURN NULL;
END;
$$;
CREATE TRIGGER potential_duplicates_republish AFTER INSERT OR UPDATE OR DELETE ON hubsync.potential_duplicates_all
    FOR EACH ROW EXECUTE FUNCTION hubsync.duplicates_republish();
