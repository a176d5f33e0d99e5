-- Duplicate detection's name_company signal looks contacts up by name and company together.
-- With the name alone indexed, every lookup visited each contact of that name and filtered on the
-- company: at 1,000,000 contacts, about 40 heap rows per lookup and 330 ms per batch of 2,000, so
-- ingest's cost per event grew with the table (docs/performance.md#ingest-at-scale). One index per
-- company key (its name key, or its domain), led by the portal, makes each lookup exact. Not partial:
-- a join's equality does not prove a partial index's predicate, so the planner would not use it.
CREATE INDEX contacts_name_company_key_idx
    ON hubsync.contacts_all (portal_id, name_normalized, company_name_key);
CREATE INDEX contacts_name_company_domain_idx
    ON hubsync.contacts_all (portal_id, name_normalized, company_domain_root);
DROP INDEX hubsync.contacts_name_normalized_idx;
