-- HubSpot portals that installed hubsync's public app (OAuth), with their tokens encrypted at rest.
-- A deployment with a private-app token (HUBSPOT_ACCESS_TOKEN) needs no row here.

CREATE TABLE hubsync.portals (
    portal_id          bigint PRIMARY KEY,
    hub_domain         text,
    app_id             bigint,
    scopes             text[] NOT NULL DEFAULT '{}',
    -- active: synced; paused: by an operator (hubsync portals pause); revoked: HubSpot refused the
    -- refresh token (uninstalled or revoked); removed: uninstalled from hubsync (tokens deleted)
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'paused', 'revoked', 'removed')),
    status_reason      text,
    -- "v1.<key id>.<base64 nonce+ciphertext>" (AES-256-GCM, the portal id as associated data)
    refresh_token_enc  text,
    access_token_enc   text,
    access_expires_at  timestamptz,
    refreshed_at       timestamptz,
    installed_at       timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
