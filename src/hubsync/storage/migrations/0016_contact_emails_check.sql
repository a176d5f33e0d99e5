-- A contact's e-mail keys reference it through triggers that check a whole statement at once
-- (docs/ingest.md#duplicates, docs/performance.md).
--
-- contact_emails_all.contact_id referenced contacts_all through a foreign key. Its check is a query per inserted
-- row that also locks the contact (FOR KEY SHARE), and ingest copies about one key per new contact: 8-13 µs a row
-- in all against 3.2-3.6 without the key, the largest single statement of a backfill's batch. The triggers below
-- keep what the key guaranteed, for every writer (ingest, the platform-side writes, a person's SQL):
--
-- * an insert or update of keys may name only contacts that exist, and holds each of them FOR KEY SHARE until it
--   ends, so a transaction deleting one of them waits for it and then deletes its keys (below). A contact the
--   writing transaction itself wrote (inserted or updated: the row's xmin is its transaction id) is not locked:
--   no other transaction can delete it before this one ends, having inserted it, or waits already, having
--   updated it. A backfill's keys are almost all of contacts its batch inserted;
-- * deleting contacts deletes their keys (the key's ON DELETE CASCADE); truncating the contacts truncates them;
-- * a contact's id never changes while it has keys (the key's NO ACTION on update).
--
-- The functions run as their owner (as a foreign key's checks do), with a fixed search_path.

ALTER TABLE hubsync.contact_emails_all DROP CONSTRAINT contact_emails_contact_id_fkey;

CREATE FUNCTION hubsync.contact_emails_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wanted bigint[];
    found bigint;
    others bigint[];
    locked bigint;
BEGIN
    SELECT array_agg(DISTINCT n.contact_id) INTO wanted FROM new_rows n;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    -- one index lookup per contact (id = ANY: never a scan of the table, whatever a plan guesses)
    SELECT count(*), array_agg(c.id ORDER BY c.id) FILTER (WHERE c.xmin <> pg_current_xact_id()::xid)
      INTO found, others
      FROM hubsync.contacts_all c WHERE c.id = ANY(wanted);
    IF others IS NOT NULL THEN
        -- a contact deleted by a transaction that committed while this one waited is not returned
        PERFORM 1 FROM hubsync.contacts_all c WHERE c.id = ANY(others) ORDER BY c.id FOR KEY SHARE OF c;
        GET DIAGNOSTICS locked = ROW_COUNT;
        found := found - cardinality(others) + locked;
    END IF;
    IF found <> cardinality(wanted) THEN
        RAISE EXCEPTION 'insert or update on table "contact_emails_all" violates its reference to "contacts_all"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('%s of %s contact ids do not exist in contacts_all',
                                  cardinality(wanted) - found, cardinality(wanted)),
                  TABLE = 'contact_emails_all', SCHEMA = 'hubsync';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER contact_emails_check_inserted AFTER INSERT ON hubsync.contact_emails_all
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubsync.contact_emails_check();
CREATE TRIGGER contact_emails_check_updated AFTER UPDATE ON hubsync.contact_emails_all
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubsync.contact_emails_check();

CREATE FUNCTION hubsync.contacts_delete_emails() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone bigint[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE hubsync.contact_emails_all;
        RETURN NULL;
    END IF;
    SELECT array_agg(o.id) INTO gone FROM old_rows o;
    -- by the primary key's leading column, one lookup per contact
    DELETE FROM hubsync.contact_emails_all e WHERE e.contact_id = ANY(gone);
    RETURN NULL;
END;
$$;

CREATE TRIGGER contacts_delete_emails AFTER DELETE ON hubsync.contacts_all
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hubsync.contacts_delete_emails();
CREATE TRIGGER contacts_truncate_emails AFTER TRUNCATE ON hubsync.contacts_all
    FOR EACH STATEMENT EXECUTE FUNCTION hubsync.contacts_delete_emails();

CREATE FUNCTION hubsync.contacts_keep_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM hubsync.contact_emails_all e WHERE e.contact_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "contacts_all" changes the id % that "contact_emails_all" references', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'contacts_all', SCHEMA = 'hubsync';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER contacts_keep_id AFTER UPDATE OF id ON hubsync.contacts_all
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION hubsync.contacts_keep_id();
