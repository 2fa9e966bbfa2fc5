-- jwtd cluster schema (PostgreSQL), version 2 (SPEC revision 2). Never edit once released.

-- Usernames are ASCII and compared case-insensitively: stored lowercased.
-- The runner refuses this migration, naming them, when two names would
-- collide (see `Migration::guard`).
UPDATE users SET username = lower(username) WHERE username <> lower(username);

-- Registered (confidential) clients. Secrets are 256 random bits, so a
-- SHA-256 of them is as strong as a slow hash and keeps introspection fast.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    introspect  BOOLEAN NOT NULL,            -- may call /oauth/introspect
    feed        BOOLEAN NOT NULL,            -- may read /revocations and its stream
    created_at  BIGINT NOT NULL
);

-- The client a session was created through (`client_id` of its tokens);
-- `jwtd` is the built-in public client.
ALTER TABLE sessions ADD COLUMN client_id TEXT NOT NULL DEFAULT 'jwtd';

-- Keys are published before they sign: a key signs from `active_at`; a
-- key with none yet is the published *next* key.
ALTER TABLE signing_keys ADD COLUMN active_at BIGINT;
UPDATE signing_keys SET active_at = created_at;
