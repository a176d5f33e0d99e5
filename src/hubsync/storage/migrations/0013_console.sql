-- The admin console (docs/console.md).
--
-- console_users: who may sign in with a password (argon2id hashes, never the password) and their role.
-- Not per portal: a console user sees every portal the deployment serves.
CREATE TABLE hubsync.console_users (
    username       text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role           text NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A pair a person marked "not a duplicate": resolved, with who said so. Detection leaves stored pairs
-- alone (ON CONFLICT DO NOTHING), so a dismissed pair is never flagged again.
ALTER TABLE hubsync.potential_duplicates_all
    ADD COLUMN resolution text CHECK (resolution IS NULL OR resolution IN ('not_duplicate')),
    ADD COLUMN resolved_by text;
-- the view lists its columns as they were when it was made: made again to show the new ones
CREATE OR REPLACE VIEW hubsync.potential_duplicates AS
    SELECT * FROM hubsync.potential_duplicates_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

-- duplicate_dismissed: a person marked a potential-duplicate pair "not a duplicate" (on both records).
ALTER TABLE hubsync.activity_log_all DROP CONSTRAINT activity_log_action_check;
ALTER TABLE hubsync.activity_log_all ADD CONSTRAINT activity_log_action_check CHECK (action IN (
    'created_from_hubspot', 'created_in_platform', 'updated', 'autofilled', 'overwritten',
    'conflict_lost', 'pushed', 'push_failed', 'flagged_duplicate', 'deleted_in_crm',
    'restored_in_crm', 'merged_in_crm', 'merged_in_platform', 'deleted_in_platform',
    'privacy_deleted', 'enriched', 'linked_to_hubspot', 'value_rejected', 'unlinked',
    'duplicate_dismissed'
));

-- The field-mapping page shows each property's latest refused values: found by property, newest first,
-- without reading the whole activity log (partial: only the rare value_rejected rows are indexed).
CREATE INDEX activity_log_value_rejected_idx
    ON hubsync.activity_log_all (portal_id, object_type, field, occurred_at DESC) WHERE action = 'value_rejected';

-- The error log page filters by category and object type and sorts by last_seen.
CREATE INDEX push_errors_portal_last_seen_idx ON hubsync.push_errors_all (portal_id, last_seen DESC, id DESC);

-- A record's page lists the records merged into it: without these, each view read the whole table.
-- Partial: only merged records are indexed, so ingest's writes of live records do not maintain them.
CREATE INDEX contacts_merged_into_idx ON hubsync.contacts_all (merged_into_id) WHERE merged_into_id IS NOT NULL;
CREATE INDEX accounts_merged_into_idx ON hubsync.accounts_all (merged_into_id) WHERE merged_into_id IS NOT NULL;
