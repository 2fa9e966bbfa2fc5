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
mod types;

pub use sqlite::ChangeStamp;

use jwtd_core::keys::KeyMaterial;

use crate::accounts::fold_username as fold;
use jwtd_core::revocation::Revocation;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use types::*;

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
