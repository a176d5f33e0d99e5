-- The current portal, once per statement (docs/portals.md, docs/performance.md).
--
-- Every per-portal view of migration 0011 filtered on `portal_id = hubsync.current_portal()`. That function
-- reads a setting and falls back to a sub-select, so PostgreSQL cannot inline it and runs it as a function call
-- (about 2 µs) for every row a view's filter or check option looks at: ~20 calls per ingested contact, across the
-- record writes, duplicate detection and the canonical-record read. Written as a scalar sub-select, the
-- current portal is an InitPlan, computed once per statement; the views' rows, their check options and their
-- updatability do not change. CREATE OR REPLACE keeps the views' columns and the views built on them.

CREATE OR REPLACE VIEW hubsync.accounts AS
    SELECT * FROM hubsync.accounts_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.contacts AS
    SELECT * FROM hubsync.contacts_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.contact_emails AS
    SELECT * FROM hubsync.contact_emails_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.contact_account_links AS
    SELECT * FROM hubsync.contact_account_links_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.potential_duplicates AS
    SELECT * FROM hubsync.potential_duplicates_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.prospect_organizations AS
    SELECT * FROM hubsync.prospect_organizations_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.prospect_people AS
    SELECT * FROM hubsync.prospect_people_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.activity_log AS
    SELECT * FROM hubsync.activity_log_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.push_errors AS
    SELECT * FROM hubsync.push_errors_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.settings AS
    SELECT * FROM hubsync.settings_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.field_mappings AS
    SELECT * FROM hubsync.field_mappings_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.outbox AS
    SELECT * FROM hubsync.outbox_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.connector_cursors AS
    SELECT * FROM hubsync.connector_cursors_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.property_definitions AS
    SELECT * FROM hubsync.property_definitions_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
CREATE OR REPLACE VIEW hubsync.crm_republish AS
    SELECT * FROM hubsync.crm_republish_all WHERE portal_id = (SELECT hubsync.current_portal()) WITH CASCADED CHECK OPTION;
