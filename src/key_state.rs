//! This instance's signing and verification keys: the ring requests verify
//! with, the published JWKS, and what it takes to notice that another
//! process (the CLI, another instance) changed the stored keys.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use jwtd_core::keys::Jwk;
use jwtd_core::revocation::RevocationIndex;
use jwtd_core::sigcache::CacheStats;
use jwtd_core::verifier::Verifier;

use crate::enforce::index_revoked_keys;
use crate::keyring::{self, KeyringError};
use crate::store::{Store, StoreError, StoredKey};

/// The keys, swapped whole on rotation so verification never takes a lock.
pub struct KeyState {
    /// The ring requests verify with and tokens are signed by.
    pub verifier: ArcSwap<Verifier>,
    /// The published JWKS, swapped with `verifier`.
    pub jwks: ArcSwap<Vec<Jwk>>,
    /// Last seen [`Store::key_fingerprint`], to notice keys changed by
    /// another process (the CLI) and reload them.
    fingerprint: Mutex<[i64; 4]>,
    /// When the signing key next changes by itself (a staged rotation's
    /// switch), `i64::MAX` when nothing is scheduled: the ring is rebuilt
    /// then (see [`KeyState::switch_if_due`]).
    switch_at: AtomicI64,
    /// Counters of the verified-token caches replaced by key changes, so
    /// the totals in `/metrics` never go down.
    retired_cache: Mutex<CacheStats>,
    /// Memory for each ring's verified-token cache.
    cache_size: usize,
}

impl KeyState {
    /// The keys as `stored` now, with a ring already built from them.
    pub async fn load(
        store: &Store,
        ring: jwtd_core::keys::KeyRing,
        stored: &[StoredKey],
        cache_size: usize,
        now: i64,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            verifier: ArcSwap::from_pointee(Verifier::new(ring, cache_size)),
            jwks: ArcSwap::from_pointee(keyring::jwks(stored, now)),
            fingerprint: Mutex::new(store.key_fingerprint().await?),
            switch_at: AtomicI64::new(keyring::next_switch(stored, now).unwrap_or(i64::MAX)),
            retired_cache: Mutex::default(),
            cache_size,
        })
    }

    /// The fingerprint of the keys last loaded.
    pub fn fingerprint(&self) -> [i64; 4] {
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verified-token cache's sizes now, and its counters since start
    /// (across key changes).
    pub fn cache_stats(&self) -> CacheStats {
        let now = self.verifier.load().cache_stats();
        let retired = *self.retired_cache.lock().unwrap_or_else(|e| e.into_inner());
        now.with_counters_of(retired)
    }

    /// Rebuilds the ring and JWKS from the store (after a rotation or
    /// revocation here or in another process); revoked keys are indexed in
    /// `index` first.
    pub async fn reload(
        &self,
        store: &Store,
        index: &RevocationIndex,
        now: i64,
    ) -> Result<(), KeyringError> {
        let fingerprint = store.key_fingerprint().await?;
        let stored = store.keys().await?;
        let ring = keyring::build(&stored, now)?;
        // Before the ring is swapped: a ring that holds a revoked key must
        // never be visible while the index does not reject that key.
        index_revoked_keys(index, &stored);
        let fresh = Verifier::new(ring, self.cache_size);
        let old = self.verifier.swap(std::sync::Arc::new(fresh)).cache_stats();
        let mut retired = self.retired_cache.lock().unwrap_or_else(|e| e.into_inner());
        *retired = retired.with_counters_of(old);
        drop(retired);
        self.jwks
            .store(std::sync::Arc::new(keyring::jwks(&stored, now)));
        let switch_at = keyring::next_switch(&stored, now).unwrap_or(i64::MAX);
        self.switch_at.store(switch_at, Ordering::Release);
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = fingerprint;
        Ok(())
    }

    /// Rebuilds the ring when a staged rotation's moment has come, so the
    /// promoted key starts signing here (every instance does the same from
    /// the same stored time).
    pub async fn switch_if_due(&self, store: &Store, index: &RevocationIndex, now: i64) {
        if now < self.switch_at.load(Ordering::Acquire) {
            return;
        }
        match self.reload(store, index, now).await {
            Ok(()) => tracing::info!("signing key switched (staged rotation)"),
            Err(e) => tracing::warn!(error = %e, "key switch failed; will retry"),
        }
    }

    /// Whether `kid` is a stored key this instance had not loaded yet; if
    /// so, the ring is reloaded (and answers for it from now on). An error
    /// when the store cannot tell.
    pub async fn learn(
        &self,
        kid: &str,
        store: &Store,
        index: &RevocationIndex,
        now: i64,
    ) -> Result<bool, StoreError> {
        if self.verifier.load().ring().get(kid).is_some() {
            return Ok(true);
        }
        let stored = store.keys().await?;
        if !stored.iter().any(|k| k.material.kid == kid) {
            return Ok(false);
        }
        match self.reload(store, index, now).await {
            Ok(()) => Ok(true),
            Err(KeyringError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Corrupt(e.to_string())),
        }
    }
}
