//! What the store takes and gives: its records, requests and errors,
//! shared by the backends (which import them from here, never from their
//! parent, so the store's modules import nothing back).

use jwtd_core::keys::KeyMaterial;
use jwtd_core::revocation::{Revocation, RevocationKind};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or could not commit.
    #[error("store unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// A uniqueness constraint refused the write (e.g. username taken).
    #[error("conflict")]
    Conflict,
    /// Stored data does not parse (e.g. a key of an unknown algorithm).
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// The database's schema history does not match this build's
    /// migrations (see the `migrations` module).
    #[error("schema migrations: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    /// Data that does not decode is a bug or a corrupt row, not an outage:
    /// it must not be answered as "try again later".
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_) => Self::Corrupt(e.to_string()),
            other => Self::Unavailable(other),
        }
    }
}

/// A user account.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Stable id (`sub`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: i64,
}

/// A login session.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// Session id (`sid`).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Login time.
    pub created_at: i64,
    /// Last login or refresh.
    pub last_seen_at: i64,
    /// User agent of the login request.
    pub user_agent: Option<String>,
    /// Client IP of the login request.
    pub ip: Option<String>,
    /// Expiry of the current refresh token.
    pub expires_at: i64,
    /// Latest `exp` of the session's access tokens.
    pub access_expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The client it was created through (`client_id` of its tokens).
    pub client_id: String,
}

impl SessionRecord {
    /// Live: not revoked and its refresh token not expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new login writes.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Session id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Login time.
    pub now: i64,
    /// User agent.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: Vec<u8>,
    /// Its expiry.
    pub refresh_expires_at: i64,
    /// `exp` of the first access token.
    pub access_expires_at: i64,
    /// The client logging the user in.
    pub client_id: String,
    /// (username, ip) whose counted login attempts this login releases, in
    /// the same commit.
    pub clears_login_attempts: Option<(String, String)>,
}

/// A refresh request, all hashes computed by the caller.
#[derive(Clone, Debug)]
pub struct RefreshRequest {
    /// SHA-256 of the presented token.
    pub hash: Vec<u8>,
    /// SHA-256 of its (deterministic) successor.
    pub successor_hash: Vec<u8>,
    /// Now.
    pub now: i64,
    /// Now, in milliseconds: the grace is compared in them.
    pub now_ms: i64,
    /// Expiry of a newly minted successor.
    pub successor_expires_at: i64,
    /// `exp` of the access token about to be issued.
    pub access_expires_at: i64,
    /// How long after a rotation the previous token may be replayed, in
    /// milliseconds.
    pub grace_ms: i64,
    /// Clock-skew allowance, added to revocation expiries.
    pub leeway: i64,
    /// The client presenting the token (authenticated by the caller): only
    /// the session's own client may refresh it.
    pub client_id: String,
}

/// How a refresh request ended.
#[derive(Clone, Debug)]
pub enum RefreshOutcome {
    /// The current token was rotated; the successor is now current.
    Rotated(SessionRecord, UserRecord),
    /// The previous token was replayed within the grace: same successor.
    Replayed(SessionRecord, UserRecord),
    /// A retired token was reused outside the grace: the session is revoked
    /// (committed), and this revocation must be applied to the index.
    Theft(Revocation),
    /// Unknown, expired, or of a dead session.
    Invalid,
    /// The session belongs to another client; nothing changed.
    WrongClient,
}

/// A registered (confidential) client (SPEC §2).
#[derive(Clone, Debug)]
pub struct ClientRecord {
    /// `client_id`.
    pub id: String,
    /// What the operator called it.
    pub name: String,
    /// SHA-256 of its secret (see [`crate::clients`]).
    pub secret_hash: Vec<u8>,
    /// May call `/oauth/introspect`.
    pub introspect: bool,
    /// May read `/revocations` and `/revocations/stream`.
    pub feed: bool,
    /// Registration time.
    pub created_at: i64,
}

/// A signing key with its lifecycle: published from `created_at`; signs
/// from `active_at` (none yet: the published *next* key) until
/// `retired_at`; verifies until `verify_until`.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// The key itself.
    pub material: KeyMaterial,
    /// Generation time, and publication in the JWKS.
    pub created_at: i64,
    /// When it signs from; `None` while it is the next key.
    pub active_at: Option<i64>,
    /// When it stops (or stopped) signing.
    pub retired_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Until when tokens it signed can be valid (set once retired).
    pub verify_until: Option<i64>,
}

impl StoredKey {
    /// Whether it is the key that signs at `now`.
    pub fn signs_at(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.active_at.is_some_and(|t| t <= now)
            && self.retired_at.is_none_or(|t| t > now)
    }

    /// Whether it is a published next key, not scheduled to sign yet.
    pub fn is_next(&self) -> bool {
        self.revoked_at.is_none() && self.active_at.is_none()
    }

    /// Whether it is scheduled to start signing after `now`.
    pub fn is_scheduled(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.active_at.is_some_and(|t| t > now)
    }
}

/// A rotation (see [`Store::promote_next_key`]).
#[derive(Clone, Debug)]
pub struct Promotion<'a> {
    /// The new next key, published by the same commit.
    pub successor: &'a KeyMaterial,
    /// Now.
    pub now: i64,
    /// How long a key must have been published before it signs: the
    /// JWKS `max-age`, or 0 for an emergency rotation.
    pub delay: i64,
    /// How long after signing stops its tokens can still be valid.
    pub token_life: i64,
    /// Do nothing when a key of the successor's algorithm signs at `now`
    /// (and answer that key): instances starting together promote once.
    pub unless_signing: bool,
}

/// Counts of what a purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Expired revocations.
    pub revocations: u64,
    /// Dead sessions.
    pub sessions: u64,
    /// Expired refresh-token hashes.
    pub refresh_tokens: u64,
    /// Keys no token can need any more.
    pub keys: u64,
}

/// Receives revocations in bulk (see [`Store::load_live`]). Shared: page
/// ranges are loaded concurrently, each pushing as it parses.
pub trait BulkSink: Send + Sync {
    /// One live revocation.
    fn push(&self, kind: RevocationKind, value: &str, revoked_at: i64, expires_at: i64);
}

/// Parses one chunk of token or session revocations as the backends
/// aggregate them: records `id:expires_at` joined by `,`. Ids are base64url,
/// so they cannot contain either separator; a record that does not parse is
/// an error, never a silent skip (that could un-revoke a token).
pub(crate) fn parse_id_chunk(
    kind: RevocationKind,
    chunk: &str,
    sink: &dyn BulkSink,
) -> Result<usize, StoreError> {
    let bad = || StoreError::Corrupt(format!("unreadable {kind} revocation in bulk load"));
    let mut n = 0;
    for record in chunk.split(',') {
        let (id, exp) = record.split_once(':').ok_or_else(bad)?;
        let exp: i64 = exp.parse().map_err(|_| bad())?;
        // Token and session entries ignore revoked_at.
        sink.push(kind, id, 0, exp);
        n += 1;
    }
    Ok(n)
}

/// Feeds one chunk of the bulk load's user cut-offs (`id:revoked_at:expires_at`
/// records joined by `,`) to `sink`; returns how many.
pub(crate) fn parse_user_chunk(chunk: &str, sink: &dyn BulkSink) -> Result<usize, StoreError> {
    let bad = || StoreError::Corrupt("unreadable user revocation in bulk load".into());
    let mut n = 0;
    for record in chunk.split(',') {
        let mut fields = record.rsplitn(3, ':');
        let (Some(exp), Some(cut), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad());
        };
        let exp: i64 = exp.parse().map_err(|_| bad())?;
        let cut: i64 = cut.parse().map_err(|_| bad())?;
        sink.push(RevocationKind::User, id, cut, exp);
        n += 1;
    }
    Ok(n)
}

/// Which sessions to revoke.
#[derive(Clone, Debug)]
pub struct SessionRevocation {
    /// Owner of the sessions.
    pub user_id: String,
    /// Only this session.
    pub only: Option<String>,
    /// Every session except this one.
    pub except: Option<String>,
    /// Also cut off the user (tokens issued before `now`), until this expiry.
    pub user_expires_at: Option<i64>,
    /// Now.
    pub now: i64,
    /// Clock-skew allowance, added to session revocation expiries.
    pub leeway: i64,
}

/// What a revoking call committed.
#[derive(Clone, Debug, Default)]
pub struct Revoked {
    /// To apply to the index.
    pub revocations: Vec<Revocation>,
    /// Live sessions that were ended.
    pub live_sessions: u64,
    /// Revocations of sessions the request named that were revoked before
    /// (and are in the log already): to apply to the index, not to log.
    pub known: Vec<Revocation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(std::sync::Mutex<Vec<(RevocationKind, String, i64)>>);

    impl BulkSink for Collect {
        fn push(&self, kind: RevocationKind, value: &str, _: i64, exp: i64) {
            let mut v = self.0.lock().expect("the lock is not poisoned");
            v.push((kind, value.to_owned(), exp));
        }
    }

    #[test]
    fn id_chunks_parse_and_refuse_garbage() {
        let sink = Collect::default();
        let n = parse_id_chunk(RevocationKind::Token, "abc:2,def:4", &sink);
        assert_eq!(n.ok(), Some(2));
        let got = sink.0.lock().expect("the lock is not poisoned");
        assert_eq!(got[1], (RevocationKind::Token, "def".to_owned(), 4));
        for bad in ["abc", "abc:x", "abc:1,", ""] {
            let r = parse_id_chunk(RevocationKind::Session, bad, &Collect::default());
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
