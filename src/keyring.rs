//! Loading, generating and rotating signing keys.
//!
//! Keys live in the store so that a restart (or, in cluster mode, another
//! instance) signs and verifies with the same ones. Every key is published
//! in the JWKS before it signs (SPEC §2): besides the signing key there is
//! always a *next* key, and a rotation promotes it once it has been
//! published for the JWKS `max-age`, so a verifier caching the JWKS as its
//! headers allow never meets an unknown `kid`. A retired key keeps
//! verifying until its last token expires.

use jwtd_core::keys::{Algorithm, Jwk, KeyError, KeyMaterial, KeyRing};

use crate::config::Config;
use crate::store::{Promotion, Store, StoreError, StoredKey};

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

/// Builds the ring from the store, first making sure a key of the
/// configured algorithm signs (first start, or `algorithm` changed: it
/// signs at once, there is no earlier one to hand over from) and a next
/// key of it is published.
pub async fn load_or_init(
    store: &Store,
    config: &Config,
    now: i64,
) -> Result<KeyRing, KeyringError> {
    let alg = config.serve.algorithm;
    ensure_next(store, alg, now).await?;
    let keys = store.keys().await?;
    if !keys
        .iter()
        .any(|k| k.signs_at(now) && k.material.alg == alg)
    {
        let successor = generate(alg).await?;
        let first = Promotion {
            successor: &successor,
            now,
            delay: 0,
            token_life: token_life(config),
            unless_signing: true,
        };
        store.promote_next_key(&first).await?;
    }
    build(&store.keys().await?, now)
}

/// Rotates: the published next key signs once it has been in the JWKS for
/// `jwks_max_age` (at once with `immediate`), and a new next key is
/// published. Answers the key that will sign and from when.
pub async fn rotate(
    store: &Store,
    config: &Config,
    now: i64,
    immediate: bool,
) -> Result<(String, i64), KeyringError> {
    let alg = config.serve.algorithm;
    ensure_next(store, alg, now).await?;
    let successor = generate(alg).await?;
    let p = Promotion {
        successor: &successor,
        now,
        delay: if immediate {
            0
        } else {
            crate::config::secs(config.serve.jwks_max_age)
        },
        token_life: token_life(config),
        unless_signing: false,
    };
    store
        .promote_next_key(&p)
        .await?
        .ok_or_else(|| StoreError::Corrupt("no next key to promote".into()).into())
}

/// Publishes a next key of `alg` if there is none (a new store, a revoked
/// next key, or a changed algorithm).
pub async fn ensure_next(store: &Store, alg: Algorithm, now: i64) -> Result<(), KeyringError> {
    let keys = store.keys().await?;
    if !keys.iter().any(|k| k.is_next() && k.material.alg == alg) {
        store.add_next_key(&generate(alg).await?, now).await?;
    }
    Ok(())
}

/// How long a token signed at some moment can be accepted after it.
fn token_life(config: &Config) -> i64 {
    config.access_ttl_secs() + config.leeway_secs()
}

/// Key generation runs on the blocking pool: RSA takes tens of milliseconds.
async fn generate(alg: Algorithm) -> Result<KeyMaterial, KeyringError> {
    Ok(
        tokio::task::spawn_blocking(move || KeyMaterial::generate(alg))
            .await
            .map_err(|_| KeyError::Generation)??,
    )
}

/// The ring of every stored key that can still verify: the one signing at
/// `now` (the latest to start, should two overlap), the next and scheduled
/// ones (another instance may sign with them first), and retired ones
/// until `verify_until`. Revoked keys stay in the ring (their tokens are
/// rejected by the revocation index) so that a logout with such a token is
/// recognised as "already revoked" rather than "forged".
pub fn build(keys: &[StoredKey], now: i64) -> Result<KeyRing, KeyringError> {
    let active = keys
        .iter()
        .filter(|k| k.signs_at(now))
        .max_by_key(|k| k.active_at)
        .ok_or_else(|| StoreError::Corrupt("no signing key".into()))?;
    let verifying: Vec<KeyMaterial> = keys
        .iter()
        .filter(|k| k.material.kid != active.material.kid)
        .filter(|k| k.verify_until.is_none_or(|t| t >= now))
        .map(|k| k.material.clone())
        .collect();
    Ok(KeyRing::new(&active.material, &verifying)?)
}

/// The next moment after `now` at which the signing key changes (a staged
/// rotation's switch), if one is scheduled.
pub fn next_switch(keys: &[StoredKey], now: i64) -> Option<i64> {
    keys.iter()
        .filter(|k| k.revoked_at.is_none())
        .flat_map(|k| [k.active_at, k.retired_at])
        .flatten()
        .filter(|&t| t > now)
        .min()
}

/// The public keys to publish: every key that can still verify and is not
/// revoked, the next key included, so that it is in every cached JWKS
/// before it signs; revoked keys leave at once. Empty for HS256.
pub fn jwks(keys: &[StoredKey], now: i64) -> Vec<Jwk> {
    keys.iter()
        .filter(|k| k.revoked_at.is_none() && k.verify_until.is_none_or(|t| t >= now))
        .filter_map(|k| k.material.jwk())
        .collect()
}
