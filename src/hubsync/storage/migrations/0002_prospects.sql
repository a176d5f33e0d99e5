-- The platform's prospect database: people and organizations offered for prospecting.
-- A prospect that matches a CRM record is marked in_crm and no longer offered as net-new.

CREATE TABLE hubsync.prospect_organizations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL,
    domain              text,
    domain_root         text UNIQUE,
    -- enrichment values by HubSpot property name (industry, numberofemployees, city, ...)
    attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
    in_crm              boolean NOT NULL DEFAULT false,
    in_crm_since        timestamptz,
    matched_account_id  bigint REFERENCES hubsync.accounts (id) ON DELETE SET NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hubsync.prospect_people (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_normalized    text UNIQUE,
    first_name          text,
    last_name           text,
    organization_id     bigint REFERENCES hubsync.prospect_organizations (id) ON DELETE SET NULL,
    -- enrichment values by HubSpot property name (jobtitle, phone, city, ...)
    attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
    in_crm              boolean NOT NULL DEFAULT false,
    in_crm_since        timestamptz,
    matched_contact_id  bigint REFERENCES hubsync.contacts (id) ON DELETE SET NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prospect_people_org_idx ON hubsync.prospect_people (organization_id);

CREATE VIEW hubsync.net_new_people AS
    SELECT * FROM hubsync.prospect_people WHERE NOT in_crm;

CREATE VIEW hubsync.net_new_organizations AS
    SELECT * FROM hubsync.prospect_organizations WHERE NOT in_crm;
