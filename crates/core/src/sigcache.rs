//! A bounded cache of tokens whose signature and claims were verified.
//!
//! Asymmetric signature checks cost tens of microseconds — more than the
//! rest of a request — and clients present the same access token many times
//! over its life. The cache is safe by construction:
//!
//! * keyed by the **whole token** (every byte compared on a hit; the hash
//!   only picks a bucket), so no forged token can ever match an entry;
//! * only tokens that passed full verification are inserted;
//! * a hit skips only the signature check: every claim check (exp, nbf,
//!   iat with leeway, iss, aud) runs again on it;
//! * it lives inside its [`crate::keys::KeyRing`]: a key rotation or
//!   revocation builds a new ring, and with it an empty cache;
//! * it says nothing about revocation, which is checked on every request
//!   after it, hit or miss.
//!
//! Unlike the revocation index it may evict freely: losing an entry only
//! costs one more signature check.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::token::{Validation, VerifiedToken};

const SHARDS: usize = 16;

/// Verified tokens, at most `capacity` of them.
pub struct VerifiedCache {
    shards: [RwLock<HashMap<Box<str>, Arc<VerifiedToken>>>; SHARDS],
    per_shard: usize,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, token: &str) -> &RwLock<HashMap<Box<str>, Arc<VerifiedToken>>> {
        // The last byte of the signature spreads tokens over shards; a
        // token can only be inserted after verifying, so nobody can aim
        // entries at one shard, and the map itself hashes with SipHash.
        let b = token.as_bytes().last().copied().unwrap_or(0);
        &self.shards[usize::from(b) % SHARDS]
    }

    /// The verified form of `token`, if cached. Its signature is known
    /// good; the caller re-checks its claims (time, issuer, audience).
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        if self.per_shard == 0 {
            return None;
        }
        let map = self.shard(token).read().unwrap_or_else(|e| e.into_inner());
        map.get(token).cloned()
    }

    /// Remembers a token that passed full verification.
    pub fn insert(&self, token: &str, verified: Arc<VerifiedToken>, v: &Validation, now: i64) {
        if self.per_shard == 0 {
            return;
        }
        let mut map = self.shard(token).write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.per_shard {
            map.retain(|_, t| t.claims.exp.saturating_add(v.leeway) > now);
            if map.len() >= self.per_shard {
                // Still full of live tokens: start over. Bounded memory
                // matters more than the hit rate of the next few requests.
                map.clear();
            }
        }
        map.insert(token.into(), verified);
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
