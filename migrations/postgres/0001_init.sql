-- jwtd cluster schema (PostgreSQL), version 1. Never edit once released: add 0002_….sql.
-- Times are integer seconds since the Unix epoch.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- stable id, the `sub` of tokens
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- argon2id PHC string
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,      -- the `sid` of tokens
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,      -- last login or refresh
    user_agent        TEXT,
    ip                TEXT,
    expires_at        BIGINT NOT NULL,      -- expiry of the current refresh token
    access_expires_at BIGINT NOT NULL,      -- latest `exp` of an access token of this session
    revoked_at        BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- Only SHA-256 hashes of refresh tokens are stored, never the tokens.
CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT                       -- set when rotated: the token is retired
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

-- The ordered revocation log: `seq` only grows (a sequence never reuses),
-- so readers resume from the last seq they saw.
CREATE TABLE revocations (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'session', 'user', 'key')),
    value      TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_by_expiry ON revocations(expires_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  BYTEA NOT NULL,
    public_key   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,                    -- stopped signing (rotation)
    revoked_at   BIGINT,
    verify_until BIGINT                     -- last moment a token it signed can be valid
);

CREATE TABLE login_failures (
    username     TEXT NOT NULL,
    ip           TEXT NOT NULL,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    PRIMARY KEY (username, ip)
);

-- Server-wide secrets (the refresh-token successor key).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Readers resume from the last seq they saw; writers append under an
-- advisory lock (see src/store/postgres.rs) so seq order is commit order.
