-- Which field-mapping version each running worker applies, so `hubsync settings set mapping...` can
-- wait until a change is in effect and `hubsync status` can show it.

CREATE TABLE hubsync.config_versions (
    name        text PRIMARY KEY,
    version     bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hubsync.config_versions (name, version) VALUES ('field_mappings', 1);

-- Every change of the mappings, by whatever writer, is a new version.
CREATE FUNCTION hubsync.bump_mapping_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE hubsync.config_versions SET version = version + 1, changed_at = now() WHERE name = 'field_mappings';
    RETURN NULL;
END $$;
CREATE TRIGGER field_mappings_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hubsync.field_mappings
    FOR EACH STATEMENT EXECUTE FUNCTION hubsync.bump_mapping_version();

CREATE TABLE hubsync.worker_contexts (
    worker_id        text PRIMARY KEY,
    mapping_version  bigint NOT NULL,
    loaded_at        timestamptz NOT NULL,
    seen_at          timestamptz NOT NULL
);
