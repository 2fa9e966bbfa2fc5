//! The verifier a server holds: its key ring and the cache of tokens
//! verified against exactly those keys, as one value. A key change builds a
//! new verifier (new ring, empty cache) and the server swaps it in whole,
//! so no cached verdict outlives the keys that made it.

use std::sync::Arc;

use crate::keys::KeyRing;
use crate::sigcache::{CacheStats, VerifiedCache};
use crate::token::{self, Expiry, TokenError, Validation, VerifiedToken};

/// Default budget of the verified-token cache: ~260,000 tokens at
/// [`crate::sigcache::ENTRY_BYTES`] each. Memory grows with the tokens
/// actually seen; an instance with a thousand users holds about a MiB.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// A key ring and its verified-token cache.
pub struct Verifier {
    ring: KeyRing,
    cache: VerifiedCache,
}

impl Verifier {
    /// A verifier of `ring`'s keys with a cache within `cache_bytes` of
    /// memory (0: no cache).
    pub fn new(ring: KeyRing, cache_bytes: usize) -> Self {
        Self {
            ring,
            cache: VerifiedCache::new(cache_bytes),
        }
    }

    /// The keys.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The cache's counters and sizes.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Verifies `token` against `v` at time `now`, answering from the cache
    /// when the same token was verified before (every claim is checked
    /// again on a hit; only the signature check is skipped).
    /// `Expiry::Ignore` always verifies in full and caches nothing.
    ///
    /// Revocation is not checked here: that is the index's job, right after.
    pub fn verify(
        &self,
        token: &str,
        v: &Validation,
        now: i64,
        expiry: Expiry,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        // An oversized token misses (only verified tokens are cached) and
        // `verify_uncached` refuses it.
        if expiry == Expiry::Ignore || !self.cache.enabled() {
            return token::verify_uncached(&self.ring, token, v, now, expiry).map(Arc::new);
        }
        if let Some(hit) = self.cache.get(token) {
            token::check_claims(&hit.claims, v, now, expiry)?;
            return Ok(hit);
        }
        let t = Arc::new(token::verify_uncached(&self.ring, token, v, now, expiry)?);
        self.cache.insert(token, t.clone(), now, v.leeway);
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, KeyMaterial};
    use crate::sigcache::ENTRY_BYTES;

    const NOW: i64 = 1_900_000_000;

    fn setup(alg: Algorithm, cache_bytes: usize) -> (Verifier, Validation) {
        let m = KeyMaterial::generate(alg).expect("a key is generated");
        let ring = KeyRing::new(&m, &[]).expect("a ring");
        let v = Validation {
            issuer: "https://issuer".into(),
            audience: "jwtd".into(),
            leeway: 30,
        };
        (Verifier::new(ring, cache_bytes), v)
    }

    fn token(verifier: &Verifier) -> String {
        let claims = crate::claims::test_claims(NOW);
        token::issue(verifier.ring().active().expect("a signing key"), &claims).expect("issue")
    }

    #[test]
    fn the_cache_answers_only_for_the_exact_token_while_it_is_valid() {
        let (verifier, v) = setup(Algorithm::EdDSA, DEFAULT_CACHE_BYTES);
        let t = token(&verifier);
        let first = verifier.verify(&t, &v, NOW, Expiry::Enforce);
        assert!(first.is_ok());
        assert_eq!(verifier.cache_stats().entries, 1);
        let again = verifier.verify(&t, &v, NOW, Expiry::Enforce);
        assert_eq!(again.as_deref().ok(), first.as_deref().ok());
        assert_eq!(verifier.cache_stats().hits, 1);
        // One byte different: a miss, then the signature check fails.
        let mut forged = t.clone().into_bytes();
        let i = forged.len() - 5;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("UTF-8");
        assert_eq!(
            verifier.verify(&forged, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::BadSignature)
        );
        // Past exp the cached verdict is refused.
        assert_eq!(
            verifier.verify(&t, &v, NOW + 931, Expiry::Enforce).err(),
            Some(TokenError::Expired)
        );
        // Another issuer or audience: refused from the cache too.
        let other = Validation {
            issuer: "https://other".into(),
            ..v.clone()
        };
        assert_eq!(
            verifier.verify(&t, &other, NOW, Expiry::Enforce).err(),
            Some(TokenError::WrongIssuer)
        );
        // A new verifier (a key change) starts empty.
        let (fresh, _) = setup(Algorithm::EdDSA, DEFAULT_CACHE_BYTES);
        assert_eq!(fresh.cache_stats().entries, 0);
    }

    #[test]
    fn the_cache_stays_within_its_budget_and_can_be_off() {
        let (verifier, v) = setup(Algorithm::HS256, 64 * ENTRY_BYTES);
        for _ in 0..500 {
            assert!(
                verifier
                    .verify(&token(&verifier), &v, NOW, Expiry::Enforce)
                    .is_ok()
            );
        }
        let s = verifier.cache_stats();
        assert!(s.entries <= s.capacity && s.capacity <= 64 + 32, "{s:?}");
        assert!(s.evictions > 0, "{s:?}");
        let (off, v) = setup(Algorithm::HS256, 0);
        let t = token(&off);
        assert!(off.verify(&t, &v, NOW, Expiry::Enforce).is_ok());
        assert!(off.verify(&t, &v, NOW, Expiry::Enforce).is_ok());
        assert_eq!(off.cache_stats(), CacheStats::default());
    }
}
