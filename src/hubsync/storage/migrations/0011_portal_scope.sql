-- Portal-scoped state (docs/portals.md). Every per-portal table moves to <name>_all with a portal_id column,
-- and hubsync.<name> becomes an auto-updatable view of the current portal's rows (WITH CHECK OPTION: a row of
-- another portal can be neither seen nor written through it). The current portal is the transaction's or
-- connection's `hubsync.portal` setting, or else the deployment's home portal: a deployment that never names a
-- portal keeps working exactly as before, its rows in the home portal. Existing rows move to the home portal,
-- which `hubsync db migrate` takes from HUBSYNC_PORTAL_ID (0: not named yet; naming it later relabels them).
-- Record ids stay global (one sequence): links, duplicates and activity rows keep their keys, and the unique
-- keys that are not record ids lead with portal_id. Migrations that add columns to these tables must
-- recreate the views.

CREATE TABLE hubsync.deployment (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    home_portal  bigint NOT NULL
);
INSERT INTO hubsync.deployment (home_portal)
    VALUES (coalesce(nullif(current_setting('hubsync.portal', true), '')::bigint, 0));

CREATE FUNCTION hubsync.current_portal() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('hubsync.portal', true), '')::bigint,
                    (SELECT home_portal FROM hubsync.deployment))
$$;

DROP VIEW hubsync.net_new_people;
DROP VIEW hubsync.net_new_organizations;

ALTER TABLE hubsync.accounts RENAME TO accounts_all;
ALTER TABLE hubsync.accounts_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.accounts AS
    SELECT * FROM hubsync.accounts_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.contacts RENAME TO contacts_all;
ALTER TABLE hubsync.contacts_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.contacts AS
    SELECT * FROM hubsync.contacts_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.contact_emails RENAME TO contact_emails_all;
ALTER TABLE hubsync.contact_emails_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.contact_emails AS
    SELECT * FROM hubsync.contact_emails_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.contact_account_links RENAME TO contact_account_links_all;
ALTER TABLE hubsync.contact_account_links_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.contact_account_links AS
    SELECT * FROM hubsync.contact_account_links_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.potential_duplicates RENAME TO potential_duplicates_all;
ALTER TABLE hubsync.potential_duplicates_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.potential_duplicates AS
    SELECT * FROM hubsync.potential_duplicates_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.prospect_organizations RENAME TO prospect_organizations_all;
ALTER TABLE hubsync.prospect_organizations_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.prospect_organizations AS
    SELECT * FROM hubsync.prospect_organizations_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.prospect_people RENAME TO prospect_people_all;
ALTER TABLE hubsync.prospect_people_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.prospect_people AS
    SELECT * FROM hubsync.prospect_people_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.activity_log RENAME TO activity_log_all;
ALTER TABLE hubsync.activity_log_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.activity_log AS
    SELECT * FROM hubsync.activity_log_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.push_errors RENAME TO push_errors_all;
ALTER TABLE hubsync.push_errors_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.push_errors AS
    SELECT * FROM hubsync.push_errors_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.settings RENAME TO settings_all;
ALTER TABLE hubsync.settings_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.settings AS
    SELECT * FROM hubsync.settings_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.field_mappings RENAME TO field_mappings_all;
ALTER TABLE hubsync.field_mappings_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.field_mappings AS
    SELECT * FROM hubsync.field_mappings_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.outbox RENAME TO outbox_all;
ALTER TABLE hubsync.outbox_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.outbox AS
    SELECT * FROM hubsync.outbox_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.connector_cursors RENAME TO connector_cursors_all;
ALTER TABLE hubsync.connector_cursors_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.connector_cursors AS
    SELECT * FROM hubsync.connector_cursors_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

ALTER TABLE hubsync.property_definitions RENAME TO property_definitions_all;
ALTER TABLE hubsync.property_definitions_all ADD COLUMN portal_id bigint NOT NULL DEFAULT hubsync.current_portal();
CREATE VIEW hubsync.property_definitions AS
    SELECT * FROM hubsync.property_definitions_all WHERE portal_id = hubsync.current_portal() WITH CASCADED CHECK OPTION;

-- the unique keys that are not record ids: per portal
ALTER TABLE hubsync.contacts_all DROP CONSTRAINT contacts_hubspot_id_key,
    ADD CONSTRAINT contacts_portal_hubspot_id_key UNIQUE (portal_id, hubspot_id);
ALTER TABLE hubsync.accounts_all DROP CONSTRAINT accounts_hubspot_id_key,
    ADD CONSTRAINT accounts_portal_hubspot_id_key UNIQUE (portal_id, hubspot_id);
ALTER TABLE hubsync.prospect_people_all DROP CONSTRAINT prospect_people_email_normalized_key,
    ADD CONSTRAINT prospect_people_portal_email_key UNIQUE (portal_id, email_normalized);
ALTER TABLE hubsync.prospect_organizations_all DROP CONSTRAINT prospect_organizations_domain_root_key,
    ADD CONSTRAINT prospect_organizations_portal_domain_key UNIQUE (portal_id, domain_root);
ALTER TABLE hubsync.settings_all DROP CONSTRAINT settings_pkey, ADD PRIMARY KEY (portal_id, key);
ALTER TABLE hubsync.field_mappings_all DROP CONSTRAINT field_mappings_pkey,
    ADD PRIMARY KEY (portal_id, object_type, hubspot_property);
ALTER TABLE hubsync.connector_cursors_all DROP CONSTRAINT connector_cursors_pkey,
    ADD PRIMARY KEY (portal_id, connector, object_type);
ALTER TABLE hubsync.property_definitions_all DROP CONSTRAINT property_definitions_pkey,
    ADD PRIMARY KEY (portal_id, object_type, name);

CREATE VIEW hubsync.net_new_people AS
    SELECT * FROM hubsync.prospect_people WHERE NOT in_crm;
CREATE VIEW hubsync.net_new_organizations AS
    SELECT * FROM hubsync.prospect_organizations WHERE NOT in_crm;
