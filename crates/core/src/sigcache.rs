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
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};

use crate::token::{Validation, VerifiedToken};

const SHARDS: usize = 16;

type Shard = RwLock<HashMap<Box<str>, Arc<VerifiedToken>, TailHash>>;

/// Verified tokens, at most `capacity` of them.
pub struct VerifiedCache {
    shards: [Shard; SHARDS],
    hasher: TailHash,
    per_shard: usize,
}

/// Hashes a token by the last 16 bytes of its text (its signature) under a
/// per-cache random seed.
///
/// SipHash over a whole ~300-byte token was the largest single cost of a
/// cached request. A signature is already a pseudorandom function of the
/// token, and only tokens that passed verification are ever inserted, so
/// nobody can choose the bytes that pick buckets: a flood of colliding
/// entries needs signatures the attacker cannot make. Forged tokens only
/// look up, and a lookup compares every byte before it matches.
#[derive(Clone, Copy)]
pub struct TailHash {
    seed: [u64; 2],
}

impl TailHash {
    fn random() -> Self {
        // std's RandomState is seeded from the OS once per process and
        // varied per instance: enough for seeds without another dependency.
        let s = std::collections::hash_map::RandomState::new();
        Self {
            seed: [s.hash_one(0x6a77_7464_u64), s.hash_one(0x7369_6763_u64)],
        }
    }

    /// The hash of `token`, as the shard maps compute it.
    pub fn token_hash(&self, token: &str) -> u64 {
        self.hash_one(token)
    }
}

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher {
            seed: self.seed,
            state: self.seed[0],
        }
    }
}

/// The [`Hasher`] of [`TailHash`].
pub struct TailHasher {
    seed: [u64; 2],
    state: u64,
}

/// 64×64→128-bit multiply, folded: the mixing step of foldhash/wyhash.
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut tail = [0u8; 16];
        let take = bytes.len().min(16);
        tail[16 - take..].copy_from_slice(&bytes[bytes.len() - take..]);
        let (lo, hi) = tail.split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        // The length too, so tokens of different lengths sharing a tail
        // still spread.
        self.state = fold_mul(lo ^ self.state ^ bytes.len() as u64, hi ^ self.seed[1]);
    }

    fn write_u8(&mut self, _: u8) {
        // `str`'s Hash appends a constant 0xff: nothing to add.
    }

    fn finish(&self) -> u64 {
        fold_mul(self.state, self.seed[0] | 1)
    }
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens (0 disables it).
    pub fn new(capacity: usize) -> Self {
        let hasher = TailHash::random();
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::with_hasher(hasher))),
            hasher,
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, token: &str) -> &Shard {
        // The top bits pick the shard; hashbrown uses the low bits and the
        // top seven for its own tags, so shards still spread within.
        let h = self.hasher.token_hash(token);
        &self.shards[(h >> 32) as usize % SHARDS]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_hash_depends_on_the_tail_and_the_seed() {
        let h = TailHash::random();
        let a = "header.payload.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let b = "header.payload.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
        assert_eq!(h.token_hash(a), h.token_hash(a));
        assert_ne!(h.token_hash(a), h.token_hash(b));
        assert_ne!(h.token_hash(a), TailHash::random().token_hash(a));
        // Shorter than the tail: still hashed, no panic.
        assert_ne!(h.token_hash(""), h.token_hash("x"));
    }

    #[test]
    fn tokens_spread_over_every_shard() {
        // Ed25519 signatures end in a base64 character carrying 2 bits, so
        // choosing the shard by the last byte alone would use 4 of 16.
        let h = TailHash::random();
        let mut seen = [0usize; SHARDS];
        for i in 0..4096u32 {
            let sig = crate::b64::encode([i.to_le_bytes(), (i * 7919).to_le_bytes()].concat());
            seen[(h.token_hash(&format!("h.p.{sig}")) >> 32) as usize % SHARDS] += 1;
        }
        assert!(seen.iter().all(|&n| n > 4096 / SHARDS / 2), "{seen:?}");
    }
}
