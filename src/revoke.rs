//! The one way anything revokes: [`Revocations`] commits to the store and
//! then, on a server, enforces what it committed on this instance — the
//! in-memory view, the feed's wake-up, the fan-out to other instances
//! ([`Enforcement::committed`]), in that order — before the caller can
//! answer. The CLI uses the same operations [`Revocations::offline`]: it
//! has no view to apply to, and the running server enforces the CLI's
//! commits from the log within a second.
//!
//! Expiries follow SPEC §4: an entry lives exactly as long as a token it
//! could reject. Security events and deliveries (SPEC §8, §9) hook here.

use jwtd_core::revocation::{Revocation, RevocationKind};
use jwtd_core::token::VerifiedToken;

use crate::config::Config;
use crate::enforce::Enforcement;
use crate::key_state::KeyState;
use crate::keyring::{self, KeyringError};
use crate::store::{RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, Store, StoreError};

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

/// A server's enforcement of what it commits.
#[derive(Clone, Copy)]
struct Here<'a> {
    enforcement: &'a Enforcement,
    keys: &'a KeyState,
}

/// Revocation operations over one store.
pub struct Revocations<'a> {
    store: &'a Store,
    config: &'a Config,
    here: Option<Here<'a>>,
}

impl<'a> Revocations<'a> {
    /// For a server: every commit is enforced here before it returns.
    pub fn enforced(
        store: &'a Store,
        config: &'a Config,
        enforcement: &'a Enforcement,
        keys: &'a KeyState,
    ) -> Self {
        Self {
            store,
            config,
            here: Some(Here { enforcement, keys }),
        }
    }

    /// For the CLI: commits only; a running server enforces them from the
    /// log.
    pub fn offline(store: &'a Store, config: &'a Config) -> Self {
        Self {
            store,
            config,
            here: None,
        }
    }

    async fn enforce(&self, committed: &[Revocation]) {
        if let Some(h) = self.here {
            h.enforcement.committed(committed).await;
        }
    }

    /// Ends sessions of a user; returns what was committed.
    pub async fn sessions(
        &self,
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
        let revoked = self
            .store
            .revoke_sessions(&SessionRevocation {
                user_id: user_id.to_owned(),
                only,
                except,
                user_expires_at: everywhere.then(|| user_expiry(self.config, now)),
                now,
                leeway: self.config.leeway_secs(),
            })
            .await?;
        if let Some(h) = self.here {
            h.enforcement.committed_sessions(&revoked).await;
        }
        Ok(revoked)
    }

    /// Revokes one access token by `jti`, until it would have expired
    /// anyway.
    pub async fn token(&self, t: &VerifiedToken, now: i64) -> Result<Revocation, StoreError> {
        let r = Revocation {
            kind: RevocationKind::Token,
            value: t.jti.to_string(),
            revoked_at: now,
            expires_at: t.claims.exp + self.config.leeway_secs(),
        };
        self.store
            .insert_revocations(std::slice::from_ref(&r))
            .await?;
        self.enforce(std::slice::from_ref(&r)).await;
        Ok(r)
    }

    /// Revokes a signing key. Revoking the active key first rotates to a
    /// new one, so logins keep working. `None` if the key is unknown; the
    /// flag is `false` when it was revoked already (nothing new was
    /// recorded, and the answer is the first revocation, which a server
    /// still makes sure it enforces: it may not have read it yet).
    pub async fn key(
        &self,
        kid: &str,
        now: i64,
    ) -> Result<Option<(Revocation, bool)>, KeyringError> {
        let keys = self.store.keys().await?;
        let Some(k) = keys.iter().find(|k| k.material.kid == kid) else {
            return Ok(None);
        };
        // A key that signs, or is due to, hands over at once to the
        // published next key; a revoked next key is replaced, so one is
        // always published.
        if k.signs_at(now) || k.is_scheduled(now) {
            keyring::rotate(self.store, self.config, now, true).await?;
        }
        let revoked = self
            .store
            .revoke_key(kid, now, user_expiry(self.config, now))
            .await?;
        keyring::ensure_next(self.store, self.config.serve.algorithm, now).await?;
        if let (Some(h), Some((r, new))) = (self.here, &revoked) {
            if *new {
                h.enforcement.committed(std::slice::from_ref(r)).await;
            }
            // The reload indexes every stored revoked key before the ring
            // that holds it is swapped.
            let index = h.enforcement.view.index();
            // A reload that fails (a rotation racing it on another
            // instance) leaves the commit standing: answered 503, and a
            // retry is idempotent, as before the one revocation path.
            h.keys.reload(self.store, index, now).await.map_err(|e| {
                KeyringError::Store(StoreError::Unavailable(sqlx::Error::Protocol(format!(
                    "key reload after a revocation: {e}"
                ))))
            })?;
            if *new {
                h.enforcement.keys_changed().await;
            }
        }
        Ok(revoked)
    }

    /// Deletes a registered client and revokes its sessions; `None` if
    /// there is no such client. Its open streams end
    /// ([`Enforcement::credentials_removed`]).
    pub async fn delete_client(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let revoked = self
            .store
            .delete_client(id, now, self.config.leeway_secs())
            .await?;
        if let (Some(h), Some(rs)) = (self.here, &revoked) {
            // Its open streams end before anything more reaches them.
            h.enforcement.credentials_removed();
            h.enforcement.committed(rs).await;
        }
        Ok(revoked)
    }

    /// Deletes a user and cuts off every token they hold; `None` if there
    /// is no such user.
    pub async fn delete_user(
        &self,
        username: &str,
        now: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let expires_at = user_expiry(self.config, now);
        let revoked = self
            .store
            .delete_user(username, now, expires_at, self.config.leeway_secs())
            .await?;
        if let Some(rs) = &revoked {
            self.enforce(rs).await;
        }
        Ok(revoked)
    }

    /// Rotates, replays or detects the theft of a refresh token; a theft
    /// revokes the session in the refresh's own transaction, and is
    /// enforced here like any revocation.
    pub async fn refresh(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        let outcome = self.store.refresh(r).await?;
        if let RefreshOutcome::Theft(revocation) = &outcome {
            self.enforce(std::slice::from_ref(revocation)).await;
        }
        Ok(outcome)
    }
}
