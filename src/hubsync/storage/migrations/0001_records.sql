-- Platform contacts and accounts, the contact-account links, and potential-duplicate links.
-- Every hubsync table lives in the `hubsync` schema, so it can share a database with the platform.

CREATE SCHEMA IF NOT EXISTS hubsync;

-- One id space for contacts and accounts, so a bare RECORD_ID names exactly one record.
CREATE SEQUENCE hubsync.record_id_seq;

CREATE TABLE hubsync.accounts (
    id                    bigint PRIMARY KEY DEFAULT nextval('hubsync.record_id_seq'),
    hubspot_id            text UNIQUE,
    creation_source       text NOT NULL
        CHECK (creation_source IN ('hubspot', 'manual_pull', 'platform', 'import')),
    crm_status            text NOT NULL DEFAULT 'not_linked'
        CHECK (crm_status IN ('not_linked', 'synced', 'deleted_in_crm', 'merged_in_crm', 'merged_in_platform')),
    name                  text,
    domain                text,
    -- registrable ("root") domain, lower-cased, from the public suffix list; the dedup key
    domain_root           text,
    name_normalized       text,
    -- mapped fields by HubSpot property name, as the platform holds them
    properties            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- per-property change time ({"name": "2026-01-01T00:00:00Z"}) for later-change-wins conflicts
    property_versions     jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- HubSpot's updatedAt of the last applied change: the version guard against replays
    hubspot_updated_at    timestamptz,
    merged_into_id        bigint REFERENCES hubsync.accounts (id),
    crm_merged_into_hubspot_id text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    last_pulled_at        timestamptz,
    last_pushed_at        timestamptz,
    CHECK (merged_into_id IS NULL OR merged_into_id <> id)
);
CREATE INDEX accounts_domain_root_idx ON hubsync.accounts (domain_root) WHERE domain_root IS NOT NULL;
CREATE INDEX accounts_name_normalized_idx ON hubsync.accounts (name_normalized) WHERE name_normalized IS NOT NULL;

CREATE TABLE hubsync.contacts (
    id                    bigint PRIMARY KEY DEFAULT nextval('hubsync.record_id_seq'),
    hubspot_id            text UNIQUE,
    creation_source       text NOT NULL
        CHECK (creation_source IN ('hubspot', 'manual_pull', 'platform', 'import')),
    crm_status            text NOT NULL DEFAULT 'not_linked'
        CHECK (crm_status IN ('not_linked', 'synced', 'deleted_in_crm', 'merged_in_crm', 'merged_in_platform')),
    email                 text,
    first_name            text,
    last_name             text,
    -- lower-cased "first last", the weaker dedup signal together with the company/domain
    name_normalized       text,
    company_name          text,
    company_domain_root   text,
    properties            jsonb NOT NULL DEFAULT '{}'::jsonb,
    property_versions     jsonb NOT NULL DEFAULT '{}'::jsonb,
    hubspot_updated_at    timestamptz,
    merged_into_id        bigint REFERENCES hubsync.contacts (id),
    crm_merged_into_hubspot_id text,
    -- set when HubSpot sent a privacy deletion: personal data erased, the row kept for audit
    erased_at             timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    last_pulled_at        timestamptz,
    last_pushed_at        timestamptz,
    CHECK (merged_into_id IS NULL OR merged_into_id <> id)
);
CREATE INDEX contacts_name_normalized_idx ON hubsync.contacts (name_normalized) WHERE name_normalized IS NOT NULL;

-- Every normalized address of a contact (primary email and hs_additional_emails): the email dedup key.
CREATE TABLE hubsync.contact_emails (
    contact_id        bigint NOT NULL REFERENCES hubsync.contacts (id) ON DELETE CASCADE,
    email_normalized  text NOT NULL,
    is_primary        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (contact_id, email_normalized)
);
CREATE INDEX contact_emails_email_idx ON hubsync.contact_emails (email_normalized);

-- The HubSpot contact-to-company association, mirrored.
CREATE TABLE hubsync.contact_account_links (
    contact_id   bigint NOT NULL REFERENCES hubsync.contacts (id) ON DELETE CASCADE,
    account_id   bigint NOT NULL REFERENCES hubsync.accounts (id) ON DELETE CASCADE,
    is_primary   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, account_id)
);
CREATE INDEX contact_account_links_account_idx ON hubsync.contact_account_links (account_id);
CREATE UNIQUE INDEX contact_account_links_one_primary
    ON hubsync.contact_account_links (contact_id) WHERE is_primary;

-- Potential duplicates: an unordered pair of records of one type, stored once (record_a < record_b).
-- Never merged automatically; resolved_at is set when a person dismisses or merges the pair.
CREATE TABLE hubsync.potential_duplicates (
    object_type  text NOT NULL CHECK (object_type IN ('contact', 'account')),
    record_a     bigint NOT NULL,
    record_b     bigint NOT NULL,
    signal       text NOT NULL CHECK (signal IN ('email', 'domain', 'name_company')),
    detected_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    PRIMARY KEY (object_type, record_a, record_b, signal),
    CHECK (record_a < record_b)
);
CREATE INDEX potential_duplicates_b_idx ON hubsync.potential_duplicates (object_type, record_b);
