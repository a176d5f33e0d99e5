-- One index for a contact's company domain, led by it, where there were two (docs/ingest.md#duplicates).
--
-- Duplicate detection looks contacts up by name and company domain together (0012's (portal, name, domain)
-- index) and the console finds them by company domain alone (0006's (domain) index, partial, not portal-led).
-- Led by (portal, domain), one index answers both exactly: the lookup by name and domain is the same equality
-- on the same three columns, and a search by domain reads its prefix, scoped to the portal as the views are.
-- Every contact a backfill inserts, and every rename, maintains one index entry less.
CREATE INDEX contacts_domain_name_idx ON hubsync.contacts_all (portal_id, company_domain_root, name_normalized);
DROP INDEX hubsync.contacts_name_company_domain_idx;
DROP INDEX hubsync.contacts_company_domain_root_idx;
