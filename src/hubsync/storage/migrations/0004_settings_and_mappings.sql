-- Sync settings and field mappings. Defaults are loaded from a file by `hubsync db migrate`
-- (inserted only where no value exists, so a person's changes are never overwritten).

CREATE TABLE hubsync.settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hubsync.field_mappings (
    object_type       text NOT NULL CHECK (object_type IN ('contact', 'account')),
    hubspot_property  text NOT NULL,
    -- where the platform keeps the value: a column name or a key of `properties`
    platform_field    text NOT NULL,
    mode              text NOT NULL DEFAULT 'none' CHECK (mode IN ('none', 'autofill', 'overwrite')),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_type, hubspot_property)
);
