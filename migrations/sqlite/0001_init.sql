-- jwtd embedded schema, version 1. Never edit once released: add 0002_….sql.
-- Times are integer seconds since the Unix epoch.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- stable id, the `sub` of tokens
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- argon2id PHC string
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,      -- the `sid` of tokens
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,      -- last login or refresh
    user_agent        TEXT,
    ip                TEXT,
    expires_at        INTEGER NOT NULL,      -- expiry of the current refresh token
    access_expires_at INTEGER NOT NULL,      -- latest `exp` of an access token of this session
    revoked_at        INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- Only SHA-256 hashes of refresh tokens are stored, never the tokens.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER                       -- set when rotated: the token is retired
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

-- The ordered revocation log: `seq` only grows (AUTOINCREMENT never reuses),
-- so readers resume from the last seq they saw.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'session', 'user', 'key')),
    value      TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revocations_by_expiry ON revocations(expires_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    public_key   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER,                    -- stopped signing (rotation)
    revoked_at   INTEGER,
    verify_until INTEGER                     -- last moment a token it signed can be valid
);

CREATE TABLE login_failures (
    username     TEXT NOT NULL,
    ip           TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    PRIMARY KEY (username, ip)
);

-- Server-wide secrets (the refresh-token successor key).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
