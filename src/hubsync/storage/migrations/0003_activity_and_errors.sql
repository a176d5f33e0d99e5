-- The activity log (with field lineage) and the push error log.

-- One row per record-level action or per field change. For a field change, `field`, `before`,
-- `after` and `rule` say what changed and why; `cause_*` name the event that caused it, so
-- "why does this field hold this value?" has an answer.
CREATE TABLE hubsync.activity_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_type  text NOT NULL CHECK (object_type IN ('contact', 'account')),
    record_id    bigint NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL CHECK (action IN (
        'created_from_hubspot', 'created_in_platform', 'updated', 'autofilled', 'overwritten',
        'conflict_lost', 'pushed', 'push_failed', 'flagged_duplicate', 'deleted_in_crm',
        'restored_in_crm', 'merged_in_crm', 'merged_in_platform', 'deleted_in_platform',
        'privacy_deleted', 'enriched', 'linked_to_hubspot'
    )),
    field        text,
    before       jsonb,
    after        jsonb,
    rule         text CHECK (rule IS NULL OR rule IN ('mirror', 'autofill', 'overwrite', 'manual', 'platform')),
    cause_source text,
    cause_event  text,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX activity_log_record_idx ON hubsync.activity_log (object_type, record_id, occurred_at);

-- Errors HubSpot returned to a push. One open row per (record, operation, category): a repeat
-- bumps attempts and last_seen instead of adding rows.
CREATE TABLE hubsync.push_errors (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_type     text NOT NULL CHECK (object_type IN ('contact', 'account')),
    record_id       bigint NOT NULL,
    hubspot_id      text,
    operation       text NOT NULL CHECK (operation IN ('create', 'update', 'upsert', 'archive', 'merge', 'read')),
    http_status     integer,
    category        text NOT NULL,
    sub_category    text,
    message         text NOT NULL,
    correlation_id  text,
    context         jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors          jsonb NOT NULL DEFAULT '[]'::jsonb,
    payload         jsonb,
    attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retrying', 'resolved')),
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX push_errors_open_uniq
    ON hubsync.push_errors (object_type, record_id, operation, category) WHERE status <> 'resolved';
CREATE INDEX push_errors_last_seen_idx ON hubsync.push_errors (last_seen DESC);
