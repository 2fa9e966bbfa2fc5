//! Keeping an instance's view of the store current: reading what other
//! processes logged (the CLI, other instances), reloading keys that
//! changed, and the staged rotation's switch. The background tasks (the
//! sweeper's poll, the fan-out subscriber) take a [`Follower`]: the parts
//! of the state they use, not all of it.

use std::sync::Arc;

use jwtd_core::clock::Clock;
use jwtd_core::revocation::Revocation;

use crate::enforce::Enforcement;
use crate::key_state::KeyState;
use crate::store::{Store, StoreError};

/// What following the store takes.
#[derive(Clone)]
pub struct Follower {
    /// The store followed.
    pub store: Store,
    /// Where what is read takes effect.
    pub enforcement: Arc<Enforcement>,
    /// The keys, reloaded when the stored ones change.
    pub keys: Arc<KeyState>,
    /// Time source (fixed in some tests).
    pub clock: Clock,
}

impl Follower {
    /// Reads revocations other processes logged since the last look, and
    /// applies them; reloads the keys if they changed. Answers how many
    /// revocations were applied.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        const BATCH: i64 = 10_000;
        let view = &self.enforcement.view;
        // Everything committed before this moment is in what we read below.
        let started = now_ms();
        let mut total = 0;
        loop {
            let seq = view.position();
            let batch = self.store.revocations_since(seq, BATCH).await?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            let list: Vec<Revocation> = batch.into_iter().map(|(_, r)| r).collect();
            self.enforcement.apply(&list);
            view.advance_to(last);
            total += list.len();
            if list.len() < BATCH as usize {
                break;
            }
        }
        let fingerprint = self.store.key_fingerprint().await?;
        if fingerprint != self.keys.fingerprint()
            && let Err(e) = self.reload_keys().await
        {
            tracing::warn!(error = %e, "key reload failed");
        }
        view.mark_fresh(started);
        Ok(total)
    }

    /// Rebuilds the key ring and JWKS from the store.
    pub async fn reload_keys(&self) -> Result<(), crate::keyring::KeyringError> {
        let index = self.enforcement.view.index();
        self.keys.reload(&self.store, index, self.clock.now()).await
    }

    /// The staged rotation's switch, when its moment has come.
    pub async fn switch_keys_if_due(&self) {
        let index = self.enforcement.view.index();
        self.keys
            .switch_if_due(&self.store, index, self.clock.now())
            .await;
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
