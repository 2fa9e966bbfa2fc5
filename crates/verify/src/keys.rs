//! The JWKS: fetched at start, refreshed when its `Cache-Control: max-age`
//! runs out, and on demand when a token names an unknown `kid`, at most
//! once per [`Options::jwks_cooldown`](crate::Options::jwks_cooldown).
//! jwtd publishes each key at least one max-age before it signs (SPEC §2),
//! so following the cache headers is enough; the on-demand refetch only
//! covers emergency rotations.

use std::time::Duration;

use jwtd_core::keys::{KeyRing, VerifyingKey};

/// Used when the JWKS response says nothing usable.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// A fetched JWKS.
pub(crate) struct Jwks {
    /// Its keys, verify-only.
    pub ring: KeyRing,
    /// How long it may be cached.
    pub max_age: Duration,
}

/// Fetches and parses `{url}/.well-known/jwks.json`. Keys that are not
/// usable (another algorithm, a broken JWK) are skipped, not fatal: a
/// ring without them refuses their tokens, which is the safe side.
pub(crate) async fn fetch(http: &reqwest::Client, url: &str) -> Result<Jwks, String> {
    let r = http
        .get(format!("{url}/.well-known/jwks.json"))
        .send()
        .await
        .map_err(|e| format!("JWKS request: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("JWKS answered {}", r.status()));
    }
    let max_age = max_age(
        r.headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap_or(DEFAULT_MAX_AGE);
    let doc: serde_json::Value = r.json().await.map_err(|e| format!("JWKS body: {e}"))?;
    let keys = doc["keys"]
        .as_array()
        .ok_or_else(|| "JWKS without keys".to_owned())?;
    let ring = KeyRing::verify_only(keys.iter().filter_map(|k| match VerifyingKey::from_jwk(k) {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::warn!(error = %e, "JWK skipped");
            None
        }
    }));
    Ok(Jwks { ring, max_age })
}

/// The `max-age` of a `Cache-Control` value, within 1 s and 1 h (a zero
/// would make the verifier poll jwtd in a loop; an hour keeps a revoked
/// key's removal from being put off for ever).
pub(crate) fn max_age(cache_control: Option<&str>) -> Option<Duration> {
    let secs = cache_control?
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())?;
    Some(Duration::from_secs(secs.clamp(1, 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_bounded() {
        assert_eq!(
            max_age(Some("public, max-age=60")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age(Some("max-age=0")), Some(Duration::from_secs(1)));
        assert_eq!(
            max_age(Some("max-age=999999")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age(Some("no-store")), None);
        assert_eq!(max_age(None), None);
    }
}
