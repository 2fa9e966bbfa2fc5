//! The system of record: users, sessions, refresh-token hashes, the
//! revocation log, signing keys and login-failure counters.
//!
//! Handlers talk to [`Store`] only; the backend behind it (SQLite for the
//! embedded mode, PostgreSQL for cluster mode) is chosen by the database URL.
//! Every mutating method commits before it returns: a revocation returned by
//! a method is durable, and the caller may acknowledge it.

mod group;
mod migrations;
mod postgres;
mod sqlite;

pub use sqlite::ChangeStamp;

use jwtd_core::keys::KeyMaterial;

use crate::accounts::fold_username as fold;
use jwtd_core::revocation::{Revocation, RevocationKind};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

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

/// The store, whichever backend is configured.
#[derive(Clone, Debug)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// Cluster mode's shared PostgreSQL.
    Postgres(PgStore),
}

/// Forwards a call to whichever backend is in use, timing it for the
/// `jwtd_store_duration_seconds` metric under the calling method's name.
macro_rules! dispatch {
    ($self:ident, $op:literal, $s:ident => $call:expr) => {{
        let start = std::time::Instant::now();
        let out = match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        };
        crate::telemetry::store_latency($op, start.elapsed());
        out
    }};
}

impl Store {
    /// Opens the store at `url`, creating and migrating it if needed.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::open(url).await?))
        } else {
            Ok(Self::Sqlite(SqliteStore::open(url).await?))
        }
    }

    /// Whether this is the shared store of cluster mode.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// For the embedded store, a cheap stamp that changes when anyone
    /// commits (see [`ChangeStamp`]); `None` when there is no such
    /// shortcut and only a poll can tell.
    pub fn change_stamp(&self) -> Option<ChangeStamp> {
        match self {
            Self::Sqlite(s) => s.change_stamp(),
            Self::Postgres(_) => None,
        }
    }

    /// Closes every connection; later calls fail with `Unavailable`. Used at
    /// shutdown, and by tests to simulate a store that cannot commit.
    pub async fn close(&self) {
        dispatch!(self, "close", s => s.close().await)
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, "ping", s => s.ping().await)
    }

    /// The named server secret, created with `init` on first use.
    pub async fn secret(&self, name: &str, init: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        dispatch!(self, "secret", s => s.secret(name, init).await)
    }

    /// Creates a user; `Conflict` if the username is taken, in any case
    /// (the caller passes it folded: [`crate::accounts::fold_username`]).
    pub async fn create_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        debug_assert_eq!(u.username, fold(&u.username));
        dispatch!(self, "create_user", s => s.create_user(u).await)
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        dispatch!(self, "user_by_id", s => s.user_by_id(id).await)
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        dispatch!(self, "users", s => s.users().await)
    }

    /// Replaces a user's password hash.
    pub async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        dispatch!(self, "set_password", s => s.set_password(user_id, hash).await)
    }

    /// Deletes a user and, with it, their sessions and refresh tokens; in
    /// the same transaction commits the session and user revocations that
    /// kill their access tokens (user last). `None` if there is no such user.
    pub async fn delete_user(
        &self,
        username: &str,
        now: i64,
        expires_at: i64,
        leeway: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let username = &fold(username);
        dispatch!(self, "delete_user", s => s.delete_user(username, now, expires_at, leeway).await)
    }

    /// Registers a client; `Conflict` if the id exists.
    pub async fn create_client(&self, c: &ClientRecord) -> Result<(), StoreError> {
        dispatch!(self, "create_client", s => s.create_client(c).await)
    }

    /// A registered client by id.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        dispatch!(self, "client", s => s.client(id).await)
    }

    /// Every registered client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        dispatch!(self, "clients", s => s.clients().await)
    }

    /// Deletes a client and, in the same commit, revokes its live
    /// sessions (returned, for the index). `None` if there is no such
    /// client.
    pub async fn delete_client(
        &self,
        id: &str,
        now: i64,
        leeway: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        dispatch!(self, "delete_client", s => s.delete_client(id, now, leeway).await)
    }

    /// The session a refresh token (current or retired) belongs to.
    pub async fn session_by_refresh(
        &self,
        hash: &[u8],
    ) -> Result<Option<SessionRecord>, StoreError> {
        dispatch!(self, "session_by_refresh", s => s.session_by_refresh(hash).await)
    }

    /// A user by username, in any case.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let username = &fold(username);
        dispatch!(self, "user_by_name", s => s.user_by_name(username).await)
    }

    /// Reserves one password check for (username, ip) before it runs:
    /// counts it and answers `Ok(())` while fewer than `max` were counted in
    /// the window (a window that started at or before `since` starts
    /// afresh), else `Err(window_start)` and counts nothing. Atomic, so a
    /// burst of concurrent attempts, on any number of instances, gets at
    /// most `max` checks. A successful login releases the count
    /// ([`NewSession::clears_login_attempts`]).
    pub async fn reserve_login_attempt(
        &self,
        username: &str,
        ip: &str,
        now: i64,
        since: i64,
        max: u32,
    ) -> Result<Result<(), i64>, StoreError> {
        // Folded, so `Alice` and `alice` share one counter.
        let username = &fold(username);
        dispatch!(self, "reserve_login_attempt", s => s.reserve_login_attempt(username, ip, now, since, max).await)
    }

    /// The failures counted for (`key`, ip) in the current window and
    /// when it started; `None` when nothing is counted (a window that
    /// started at or before `since` is over). For client and admin
    /// authentication, whose keys are not usernames (see
    /// [`crate::auth_limits`]).
    pub async fn failures(
        &self,
        key: &str,
        ip: &str,
        since: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        dispatch!(self, "failures", s => s.failures(key, ip, since).await)
    }

    /// Counts one failed authentication for (`key`, ip), as
    /// [`Store::reserve_login_attempt`] does, with `key` taken as it is.
    pub async fn count_failure(
        &self,
        key: &str,
        ip: &str,
        now: i64,
        since: i64,
        max: u32,
    ) -> Result<(), StoreError> {
        dispatch!(self, "count_failure", s => s.reserve_login_attempt(key, ip, now, since, max).await)
            .map(|_| ())
    }

    /// Forgets the failures counted for (`key`, ip), `key` taken as it is
    /// (see [`Store::failures`]).
    pub async fn clear_failures(&self, key: &str, ip: &str) -> Result<(), StoreError> {
        dispatch!(self, "clear_failures", s => s.clear_login_failures(key, ip).await)
    }

    /// Forgets failed logins for (username, ip) after a success.
    pub async fn clear_login_failures(&self, username: &str, ip: &str) -> Result<(), StoreError> {
        let username = &fold(username);
        dispatch!(self, "clear_login_failures", s => s.clear_login_failures(username, ip).await)
    }

    /// Creates a session with its first refresh token.
    pub async fn create_session(&self, n: &NewSession) -> Result<(), StoreError> {
        dispatch!(self, "create_session", s => s.create_session(n).await)
    }

    /// A session by id.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        dispatch!(self, "session", s => s.session(id).await)
    }

    /// The user's live sessions, newest first.
    pub async fn live_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        dispatch!(self, "live_sessions", s => s.live_sessions(user_id, now).await)
    }

    /// Rotates, replays or detects theft of a refresh token (one transaction).
    pub async fn refresh(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        dispatch!(self, "refresh", s => s.refresh(r).await)
    }

    /// Revokes sessions of `user_id`: the one named by `only`, or all but
    /// `except`, or all. Returns the committed revocations and how many of
    /// the sessions were live. With `cutoff`, also revokes the user.
    pub async fn revoke_sessions(&self, r: &SessionRevocation) -> Result<Revoked, StoreError> {
        dispatch!(self, "revoke_sessions", s => s.revoke_sessions(r).await)
    }

    /// Commits revocations as they are (token and key kinds).
    pub async fn insert_revocations(&self, rs: &[Revocation]) -> Result<(), StoreError> {
        dispatch!(self, "insert_revocations", s => s.insert_revocations(rs).await)
    }

    /// Feeds every revocation still live at `now` to `sink`. Returns how many, and the log position. This is the startup
    /// path, built for a million rows in well under a second.
    pub async fn load_live(
        &self,
        now: i64,
        sink: std::sync::Arc<dyn BulkSink>,
    ) -> Result<(usize, i64), StoreError> {
        dispatch!(self, "load_live", s => s.load_live(now, sink).await)
    }

    /// Every revocation still live at `now`, and the log position.
    pub async fn live_revocations(&self, now: i64) -> Result<(Vec<Revocation>, i64), StoreError> {
        dispatch!(self, "live_revocations", s => s.live_revocations(now).await)
    }

    /// The log's head: the position of the last revocation logged (0 for
    /// an empty log).
    pub async fn log_head(&self) -> Result<i64, StoreError> {
        dispatch!(self, "log_head", s => s.log_head().await)
    }

    /// One page of the revocations logged after `after` and at or before
    /// `upto` that are still live at `now`, in log order, each with its
    /// position: at most `limit`.
    pub async fn live_page(
        &self,
        after: i64,
        upto: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Revocation)>, StoreError> {
        dispatch!(self, "live_page", s => s.live_page(after, upto, now, limit).await)
    }

    /// Up to `limit` revocations logged after `seq`, in log order, each
    /// with its position.
    pub async fn revocations_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Revocation)>, StoreError> {
        dispatch!(self, "revocations_since", s => s.revocations_since(seq, limit).await)
    }

    /// Marks `kid` revoked and commits its key revocation, which lasts until
    /// the key's last token could expire (`verify_until`, or
    /// `active_expires_at` for a key still signing). `None` if no such key.
    /// The flag is `false` when the key was revoked already: the answer is
    /// the first revocation, and nothing new is logged.
    pub async fn revoke_key(
        &self,
        kid: &str,
        now: i64,
        active_expires_at: i64,
    ) -> Result<Option<(Revocation, bool)>, StoreError> {
        dispatch!(self, "revoke_key", s => s.revoke_key(kid, now, active_expires_at).await)
    }

    /// A value that changes whenever a key is added, retired, revoked or
    /// deleted: running servers poll it to pick up keys changed elsewhere.
    pub async fn key_fingerprint(&self) -> Result<[i64; 4], StoreError> {
        dispatch!(self, "key_fingerprint", s => s.key_fingerprint().await)
    }

    /// Every signing key still stored.
    pub async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        dispatch!(self, "keys", s => s.keys().await)
    }

    /// Publishes `new` as the next key of its algorithm, unless one is
    /// published already (then `false`).
    pub async fn add_next_key(&self, new: &KeyMaterial, now: i64) -> Result<bool, StoreError> {
        dispatch!(self, "add_next_key", s => s.add_next_key(new, now).await)
    }

    /// Rotation, in one commit: the next key of the successor's algorithm
    /// signs from its publication plus `delay` (at the earliest now); every
    /// key signing or due to sign is retired at that moment; the successor
    /// becomes the next key. Answers the promoted key and when it signs;
    /// `None` when no next key of that algorithm is published.
    pub async fn promote_next_key(
        &self,
        p: &Promotion<'_>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        dispatch!(self, "promote_next_key", s => s.promote_next_key(p).await)
    }

    /// Deletes everything expired at `now`, and login-failure windows that
    /// started before `failures_since`.
    pub async fn purge(
        &self,
        now: i64,
        leeway: i64,
        failures_since: i64,
    ) -> Result<PurgeReport, StoreError> {
        dispatch!(self, "purge", s => s.purge(now, leeway, failures_since).await)
    }
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
