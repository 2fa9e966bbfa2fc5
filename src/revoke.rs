//! Revocation operations shared by the HTTP API and the CLI.
//!
//! Each one commits to the store and returns what it committed; the caller
//! applies that to its in-memory index (a server) or leaves it to the running
//! server's log catch-up (the CLI). Expiries follow SPEC §4: an entry lives
//! exactly as long as a token it could reject.

use jwtd_core::revocation::{Revocation, RevocationKind};
use jwtd_core::token::VerifiedToken;

use crate::config::Config;
use crate::keyring::{self, KeyringError};
use crate::store::{Revoked, SessionRevocation, Store, StoreError};

/// When a user cut-off made at `now` can be forgotten: every access token
/// issued before it has expired by then.
pub fn user_expiry(config: &Config, now: i64) -> i64 {
    now + config.access_ttl_secs() + config.leeway_secs()
}

/// Which of a user's sessions to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// Just this one.
    One(String),
    /// Every one but this (logout `others`).
    AllBut(String),
    /// All of them, and every token issued before now: global logout,
    /// admin logout, password change, `jwtd revoke --user`.
    Everywhere,
}

/// Ends sessions of a user; returns what was committed.
pub async fn sessions(
    store: &Store,
    config: &Config,
    user_id: &str,
    which: Sessions,
    now: i64,
) -> Result<Revoked, StoreError> {
    let everywhere = which == Sessions::Everywhere;
    let (only, except) = match which {
        Sessions::One(id) => (Some(id), None),
        Sessions::AllBut(id) => (None, Some(id)),
        Sessions::Everywhere => (None, None),
    };
    store
        .revoke_sessions(&SessionRevocation {
            user_id: user_id.to_owned(),
            only,
            except,
            user_expires_at: everywhere.then(|| user_expiry(config, now)),
            now,
            leeway: config.leeway_secs(),
        })
        .await
}

/// Revokes one access token by `jti`, until it would have expired anyway.
pub async fn token(
    store: &Store,
    config: &Config,
    t: &VerifiedToken,
    now: i64,
) -> Result<Revocation, StoreError> {
    let r = Revocation {
        kind: RevocationKind::Token,
        value: t.jti.to_string(),
        revoked_at: now,
        expires_at: t.claims.exp + config.leeway_secs(),
    };
    store.insert_revocations(std::slice::from_ref(&r)).await?;
    Ok(r)
}

/// Revokes a signing key. Revoking the active key first rotates to a new
/// one, so logins keep working. `None` if the key is unknown; the flag is
/// `false` when it was revoked already (nothing new was recorded, and the
/// answer is the first revocation).
pub async fn key(
    store: &Store,
    config: &Config,
    kid: &str,
    now: i64,
) -> Result<Option<(Revocation, bool)>, KeyringError> {
    let keys = store.keys().await?;
    let Some(k) = keys.iter().find(|k| k.material.kid == kid) else {
        return Ok(None);
    };
    // A key that signs, or is due to, hands over at once to the published
    // next key; a revoked next key is replaced, so one is always published.
    if k.signs_at(now) || k.is_scheduled(now) {
        keyring::rotate(store, config, now, true).await?;
    }
    let revoked = store.revoke_key(kid, now, user_expiry(config, now)).await?;
    keyring::ensure_next(store, config.serve.algorithm, now).await?;
    Ok(revoked)
}
