-- What the ingest agents need on top of 0001-0005: ordering of CRM status changes and of
-- association changes (so shuffled or repeated deliveries converge), the contact's company keys
-- for the weaker duplicate signal, more activity actions, and the property-definition cache.

-- When the CRM status last changed in HubSpot (deletion, restore, merge): a status event older
-- than this one is stale and ignored. hubspot_created_at is HubSpot's createdAt.
ALTER TABLE hubsync.contacts
    ADD COLUMN crm_status_at timestamptz,
    ADD COLUMN hubspot_created_at timestamptz,
    -- company_name_key(company property): with name_normalized, the weaker duplicate signal
    ADD COLUMN company_name_key text;
ALTER TABLE hubsync.accounts
    ADD COLUMN crm_status_at timestamptz,
    ADD COLUMN hubspot_created_at timestamptz;

CREATE INDEX contacts_company_domain_root_idx
    ON hubsync.contacts (company_domain_root) WHERE company_domain_root IS NOT NULL;

-- Association changes are ordered too: a link keeps its last change time, and a removal keeps
-- the row (removed_at set) so an older "added" arriving later cannot bring it back.
ALTER TABLE hubsync.contact_account_links
    ADD COLUMN changed_at timestamptz,
    ADD COLUMN removed_at timestamptz;
DROP INDEX hubsync.contact_account_links_one_primary;
CREATE UNIQUE INDEX contact_account_links_one_primary
    ON hubsync.contact_account_links (contact_id) WHERE is_primary AND removed_at IS NULL;

-- value_rejected: autofill/overwrite found a prospect value HubSpot's property definition refuses.
-- unlinked: a platform record stopped being linked to a HubSpot record.
ALTER TABLE hubsync.activity_log DROP CONSTRAINT activity_log_action_check;
ALTER TABLE hubsync.activity_log ADD CONSTRAINT activity_log_action_check CHECK (action IN (
    'created_from_hubspot', 'created_in_platform', 'updated', 'autofilled', 'overwritten',
    'conflict_lost', 'pushed', 'push_failed', 'flagged_duplicate', 'deleted_in_crm',
    'restored_in_crm', 'merged_in_crm', 'merged_in_platform', 'deleted_in_platform',
    'privacy_deleted', 'enriched', 'linked_to_hubspot', 'value_rejected', 'unlinked'
));
CREATE INDEX activity_log_cause_event_idx ON hubsync.activity_log (cause_event) WHERE cause_event IS NOT NULL;

-- HubSpot property definitions (GET /crm/v3/properties/{objectType}), cached so conversion and
-- validation (and `hubsync replay`) work without calling HubSpot on every record.
CREATE TABLE hubsync.property_definitions (
    object_type  text NOT NULL CHECK (object_type IN ('contact', 'account')),
    name         text NOT NULL,
    definition   jsonb NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_type, name)
);
