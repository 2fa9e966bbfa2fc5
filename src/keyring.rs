//! Loading, generating and rotating signing keys.
//!
//! Keys live in the store so that a restart (or, in cluster mode, another
//! instance) signs and verifies with the same ones. On start, a key of the
//! configured algorithm is made active if none is; the previous active key is
//! retired, not deleted, and keeps verifying until its last token expires.

use jwtd_core::keys::{Algorithm, Jwk, KeyError, KeyMaterial, KeyRing};

use crate::config::Config;
use crate::store::{Store, StoreError, StoredKey};

/// Errors while preparing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key is unusable or generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Builds the ring from the store, generating an active key of the configured
/// algorithm first if there is none (first start, or `algorithm` changed).
pub async fn load_or_init(
    store: &Store,
    config: &Config,
    now: i64,
) -> Result<KeyRing, KeyringError> {
    let keys = store.keys().await?;
    let active_ok = keys
        .iter()
        .any(|k| k.is_active() && k.material.alg == config.serve.algorithm);
    if !active_ok {
        let material = generate(config.serve.algorithm).await?;
        let verify_until = now + config.access_ttl_secs() + config.leeway_secs();
        store.rotate_key(&material, now, verify_until, true).await?;
    }
    build(&store.keys().await?, now)
}

/// Generates a new active key of the configured algorithm.
pub async fn rotate(store: &Store, config: &Config, now: i64) -> Result<String, KeyringError> {
    let material = generate(config.serve.algorithm).await?;
    let verify_until = now + config.access_ttl_secs() + config.leeway_secs();
    store
        .rotate_key(&material, now, verify_until, false)
        .await?;
    Ok(material.kid)
}

/// Key generation runs on the blocking pool: RSA takes tens of milliseconds.
async fn generate(alg: Algorithm) -> Result<KeyMaterial, KeyringError> {
    Ok(
        tokio::task::spawn_blocking(move || KeyMaterial::generate(alg))
            .await
            .map_err(|_| KeyError::Generation)??,
    )
}

/// The ring of every stored key that can still verify: the active one, and
/// retired ones until `verify_until`. Revoked keys stay in the ring (their
/// tokens are rejected by the revocation index) so that a logout with such a
/// token is recognised as "already revoked" rather than "forged".
pub fn build(keys: &[StoredKey], now: i64) -> Result<KeyRing, KeyringError> {
    let active = keys
        .iter()
        .rev()
        .find(|k| k.is_active())
        .ok_or_else(|| StoreError::Corrupt("no active signing key".into()))?;
    let verifying: Vec<KeyMaterial> = keys
        .iter()
        .filter(|k| !k.is_active() && k.verify_until.is_none_or(|t| t >= now))
        .map(|k| k.material.clone())
        .collect();
    Ok(KeyRing::new(&active.material, &verifying)?)
}

/// The public keys to publish: every key that can still verify and is not
/// revoked (revoked keys leave the JWKS at once). Empty for HS256.
pub fn jwks(keys: &[StoredKey], now: i64) -> Vec<Jwk> {
    keys.iter()
        .filter(|k| k.revoked_at.is_none() && k.verify_until.is_none_or(|t| t >= now))
        .filter_map(|k| k.material.jwk())
        .collect()
}
