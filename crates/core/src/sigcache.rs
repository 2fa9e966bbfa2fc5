//! A bounded cache of tokens whose signature and claims were verified, so
//! a fleet of clients that each present their own token many times pays
//! the asymmetric signature check (tens of microseconds, more than the rest
//! of a request) once per token rather than once per request.
//!
//! # Design
//!
//! * **Sized by memory.** The capacity is a byte budget divided by
//!   [`ENTRY_BYTES`], the measured cost of one entry (key, slot, map bucket
//!   and the shared verified claims; see `docs/benchmarks.md`).
//! * **CLOCK eviction, per shard.** Each of [`SHARDS`] shards keeps its
//!   entries in a fixed ring of slots with a "referenced" bit, set on a hit
//!   (with a relaxed store, and only when not set already, so a hot entry
//!   costs no write). When a shard is full, its hand sweeps: an entry whose
//!   token has expired goes at once, a referenced one gets its bit cleared
//!   and a second chance, an unreferenced one is replaced. A hit takes only
//!   the shard's read lock. CLOCK was measured against a full clear (the
//!   previous policy) and against sampled LRU; the figures are in
//!   `docs/benchmarks.md`.
//! * **Safe by construction.** The key is a 128-bit HMAC-SHA-256 of the
//!   whole token under a random key made with the cache (never stored,
//!   never shown). A forged or altered token hits an entry only if its
//!   HMAC equals that of a cached token: with the key unknown, HMAC is a
//!   pseudorandom function, so each attempt succeeds with probability at
//!   most entries / 2^128 (2^-110 with a million entries), and nothing an
//!   attacker observes (hit or miss, answer or refusal) tells them more
//!   than "no collision". Storing the key instead of the token saves ~450
//!   bytes an entry, which is what lets a real fleet fit.
//! * Only tokens that passed full verification are inserted, and a hit
//!   skips only the signature check: every claim check (exp, nbf, iat with
//!   leeway, iss, aud) runs again on it.
//! * It belongs to one [`crate::verifier::Verifier`], which a key rotation
//!   or revocation replaces whole: no cached verdict outlives a key change.
//! * It says nothing about revocation, which is checked on every request
//!   after it, hit or miss. Unlike the revocation index it may evict
//!   freely: losing an entry only costs one more signature check.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::hmac;

use crate::token::VerifiedToken;

/// Shards: writers (inserts, sweeps of the hand) block 1/32 of readers.
pub const SHARDS: usize = 32;

/// The memory one cached token costs, measured (`docs/benchmarks.md`):
/// the 16-byte key twice (slot and map), the slot's reference bit and
/// pointer, the map bucket at hashbrown's load factor, and the verified
/// claims (`VerifiedToken`: seven short strings, three times, two ids).
pub const ENTRY_BYTES: usize = 512;

/// A 128-bit key: the truncated HMAC of a token.
type Key = u128;

/// Verified tokens, within a memory budget.
pub struct VerifiedCache {
    shards: Box<[ShardCell]>,
    mac: hmac::Key,
    per_shard: usize,
}

/// One shard, with its counters beside its lock (the lock's cache line is
/// written on every read anyway).
struct ShardCell {
    lock: RwLock<Shard>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct Shard {
    map: HashMap<Key, u32, KeyHash>,
    slots: Vec<Slot>,
    hand: usize,
}

struct Slot {
    key: Key,
    token: Arc<VerifiedToken>,
    referenced: AtomicBool,
}

/// What the cache has done, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Tokens held.
    pub entries: u64,
    /// Tokens it can hold.
    pub capacity: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries replaced to make room (expired ones included).
    pub evictions: u64,
}

impl VerifiedCache {
    /// A cache within `budget_bytes` of memory (0 disables it).
    pub fn new(budget_bytes: usize) -> Self {
        let capacity = budget_bytes / ENTRY_BYTES;
        let mut key = [0u8; 32];
        crate::id::fill_random(&mut key);
        Self {
            shards: (0..SHARDS)
                .map(|_| ShardCell {
                    lock: RwLock::new(Shard {
                        map: HashMap::with_hasher(KeyHash),
                        slots: Vec::new(),
                        hand: 0,
                    }),
                    hits: AtomicU64::new(0),
                    misses: AtomicU64::new(0),
                    evictions: AtomicU64::new(0),
                })
                .collect(),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &key),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    /// The cache key of `token`: its HMAC, truncated to 128 bits.
    pub fn key(&self, token: &str) -> Key {
        let tag = hmac::sign(&self.mac, token.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&tag.as_ref()[..16]);
        u128::from_le_bytes(k)
    }

    fn cell(&self, key: Key) -> &ShardCell {
        // The top bits pick the shard; the map uses the low bits.
        &self.shards[(key >> 96) as usize % SHARDS]
    }

    /// Whether the cache holds anything at all (a budget of 0 turns it
    /// off, and then a lookup does not even compute the key).
    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    /// The verified form of the token with `key`, if cached. Its signature
    /// is known good; the caller re-checks its claims (time, issuer,
    /// audience).
    pub fn get(&self, key: Key) -> Option<Arc<VerifiedToken>> {
        let cell = self.cell(key);
        let shard = cell.lock.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = shard.map.get(&key).map(|&i| &shard.slots[i as usize]) else {
            cell.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        cell.hits.fetch_add(1, Ordering::Relaxed);
        Some(slot.token.clone())
    }

    /// Remembers a token that passed full verification. `live_until` is
    /// when its entry becomes useless (its `exp` plus leeway); the hand
    /// evicts such entries first.
    pub fn insert(&self, key: Key, token: Arc<VerifiedToken>, now: i64, leeway: i64) {
        if self.per_shard == 0 {
            return;
        }
        let cell = self.cell(key);
        let mut shard = cell.lock.write().unwrap_or_else(|e| e.into_inner());
        if shard.map.contains_key(&key) {
            return;
        }
        let slot = Slot {
            key,
            token,
            referenced: AtomicBool::new(false),
        };
        if shard.slots.len() < self.per_shard {
            let i = shard.slots.len() as u32;
            shard.slots.push(slot);
            shard.map.insert(key, i);
            return;
        }
        let victim = shard.sweep(now, leeway);
        let old = std::mem::replace(&mut shard.slots[victim], slot);
        shard.map.remove(&old.key);
        shard.map.insert(key, victim as u32);
        cell.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counters and sizes, summed over the shards.
    pub fn stats(&self) -> CacheStats {
        let mut s = CacheStats {
            capacity: (self.per_shard * SHARDS) as u64,
            ..CacheStats::default()
        };
        for cell in self.shards.iter() {
            s.entries += cell
                .lock
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .slots
                .len() as u64;
            s.hits += cell.hits.load(Ordering::Relaxed);
            s.misses += cell.misses.load(Ordering::Relaxed);
            s.evictions += cell.evictions.load(Ordering::Relaxed);
        }
        s
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.stats().entries as usize
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shard {
    /// Advances the CLOCK hand to the slot to replace: the first expired
    /// entry, or the first not referenced since the hand last passed. At
    /// most two turns: the first clears every bit it passes.
    fn sweep(&mut self, now: i64, leeway: i64) -> usize {
        let n = self.slots.len();
        loop {
            let i = self.hand;
            self.hand = (i + 1) % n;
            let slot = &self.slots[i];
            let expired = slot.token.claims.exp.saturating_add(leeway) <= now;
            if expired || !slot.referenced.swap(false, Ordering::Relaxed) {
                return i;
            }
        }
    }
}

/// Hashes a [`Key`] by taking its low 64 bits: they are HMAC output
/// already, uniform and unknown to anyone who could choose tokens.
#[derive(Clone, Copy, Default)]
struct KeyHash;

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// The [`Hasher`] of [`KeyHash`].
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(b);
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::AccessClaims;
    use crate::id::Id128;

    fn verified(exp: i64) -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            claims: AccessClaims {
                iss: "i".into(),
                sub: "s".into(),
                aud: "a".into(),
                iat: 0,
                nbf: 0,
                exp,
                jti: Id128::random().to_string(),
                sid: Id128::random().to_string(),
                preferred_username: "u".into(),
            },
            kid: "k".into(),
            jti: Id128::random(),
            sid: Id128::random(),
            user: None,
        })
    }

    #[test]
    fn keys_depend_on_every_byte_and_on_the_cache() {
        let c = VerifiedCache::new(1 << 20);
        let t = "header.payload.signature";
        assert_eq!(c.key(t), c.key(t));
        assert_ne!(c.key(t), c.key("header.payloaD.signature"));
        assert_ne!(c.key(t), c.key("Header.payload.signature"));
        assert_ne!(c.key(t), VerifiedCache::new(1 << 20).key(t));
    }

    #[test]
    fn a_full_shard_evicts_unreferenced_entries_and_keeps_hot_ones() {
        // One slot per shard: 32 shards × 1 entry.
        let c = VerifiedCache::new(SHARDS * ENTRY_BYTES);
        let keys: Vec<Key> = (0..4096u32).map(|i| c.key(&format!("t{i}"))).collect();
        let same_shard: Vec<Key> = keys
            .iter()
            .copied()
            .filter(|k| (k >> 96) as usize % SHARDS == 0)
            .take(3)
            .collect();
        let [a, b, d] = same_shard[..] else {
            panic!("three keys in shard 0 among 4096")
        };
        c.insert(a, verified(1000), 0, 0);
        assert!(c.get(a).is_some(), "a is cached, and now referenced");
        c.insert(b, verified(1000), 0, 0);
        // The hand gave `a` a second chance (clearing its bit), came round
        // and replaced it: a one-slot shard keeps only the newest.
        assert!(c.get(b).is_some());
        assert!(c.get(a).is_none());
        let s = c.stats();
        assert_eq!((s.capacity, s.evictions), (SHARDS as u64, 1));
        // An expired entry goes first, referenced or not.
        c.insert(d, verified(1000), 2000, 0);
        assert!(c.get(d).is_some() && c.get(b).is_none());
    }

    #[test]
    fn clock_keeps_the_entries_that_are_used() {
        let c = VerifiedCache::new(SHARDS * 64 * ENTRY_BYTES);
        let hot: Vec<Key> = (0..512u32).map(|i| c.key(&format!("hot{i}"))).collect();
        for &k in &hot {
            c.insert(k, verified(1000), 0, 0);
        }
        // A scan of 20,000 one-off tokens, with the hot set used between.
        for i in 0..20_000u32 {
            let k = c.key(&format!("cold{i}"));
            if c.get(k).is_none() {
                c.insert(k, verified(1000), 0, 0);
            }
            let _ = c.get(hot[i as usize % hot.len()]);
        }
        let kept = hot.iter().filter(|&&k| c.get(k).is_some()).count();
        assert!(
            kept > hot.len() * 9 / 10,
            "{kept} of {} hot tokens kept",
            hot.len()
        );
        assert!(c.len() <= SHARDS * 64);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let c = VerifiedCache::new(0);
        assert!(!c.enabled());
        let k = c.key("t");
        c.insert(k, verified(1000), 0, 0);
        assert!(c.get(k).is_none());
        assert_eq!(c.stats().capacity, 0);
    }
}
