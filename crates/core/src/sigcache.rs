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
//! * **S3-FIFO eviction, per shard** (Yang et al., SOSP 2023). Each of
//!   [`SHARDS`] shards keeps a small FIFO (a tenth of it) that new tokens
//!   enter, a main FIFO, and a ghost FIFO of fingerprints of tokens lately
//!   dropped from the small one. A hit raises the entry's 2-bit frequency
//!   (a relaxed store, skipped once it is 3, so a hot entry costs no
//!   write) under the shard's read lock only. When a shard is full, the
//!   small FIFO's oldest entry moves to the main FIFO if it was hit, or
//!   leaves (its fingerprint to the ghost) if not; the main FIFO's oldest
//!   is put back with its frequency lowered, or leaves at 0. A token whose
//!   fingerprint is in the ghost goes straight to the main FIFO. So a burst
//!   of one-off tokens passes through the small FIFO without pushing out
//!   the tokens in use. Expired entries leave first. It was measured
//!   against the previous full clear, CLOCK and sampled LRU
//!   (`cargo bench -p jwtd-core --bench cache_policy`, figures in
//!   `docs/benchmarks.md`).
//! * **Safe by construction.** An entry is keyed by the **whole token**:
//!   every byte is compared on a hit, the hash only picks a bucket, so no
//!   forged or altered token can ever match an entry. The hash is
//!   [`TailHash`]: the token's last 16 bytes (its signature) under a random
//!   seed. A keyed 128-bit HMAC of the token as the key instead would save
//!   ~500 bytes an entry, but computing it costs ~0.45 µs a request, which
//!   measured as 11% of the one-token throughput (`docs/benchmarks.md`):
//!   memory that a fleet's instance has was the better price.
//! * Only tokens that passed full verification are inserted, and a hit
//!   skips only the signature check: every claim check (exp, nbf, iat with
//!   leeway, iss, aud) runs again on it.
//! * It belongs to one [`crate::verifier::Verifier`], which a key rotation
//!   or revocation replaces whole: no cached verdict outlives a key change.
//! * It says nothing about revocation, which is checked on every request
//!   after it, hit or miss. Unlike the revocation index it may evict
//!   freely: losing an entry only costs one more signature check.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::id::fold_mul;
use crate::token::VerifiedToken;

/// Shards: writers (inserts, sweeps of the hand) block 1/32 of readers.
pub const SHARDS: usize = 32;

/// The memory one cached token costs, measured (`docs/benchmarks.md`):
/// the token itself (~490 bytes for EdDSA), shared by the slot and the map,
/// the slot, the map bucket at hashbrown's load factor, and the verified
/// claims (`VerifiedToken`: seven short strings, three times, three ids).
pub const ENTRY_BYTES: usize = 1088;

/// Verified tokens, within a memory budget.
pub struct VerifiedCache {
    shards: Box<[ShardCell]>,
    hasher: TailHash,
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
    map: HashMap<Arc<str>, u32, TailHash>,
    /// Entries; a slot's index is stable while its entry lives, and the
    /// queues hold indices.
    slots: Vec<Slot>,
    small: VecDeque<u32>,
    main: VecDeque<u32>,
    /// Fingerprints (token hashes) of tokens dropped from `small`, oldest
    /// first, and the same as a set.
    ghost: VecDeque<u64>,
    ghosts: HashSet<u64>,
}

struct Slot {
    /// The token, shared with the map's key.
    key: Arc<str>,
    token: Arc<VerifiedToken>,
    /// Hits since the entry entered its queue or was last passed over,
    /// at most 3.
    freq: AtomicU8,
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

impl CacheStats {
    /// These sizes, with `earlier`'s counters added to these: the totals of
    /// a cache and the ones it replaced.
    pub fn with_counters_of(self, earlier: CacheStats) -> CacheStats {
        CacheStats {
            hits: self.hits + earlier.hits,
            misses: self.misses + earlier.misses,
            evictions: self.evictions + earlier.evictions,
            ..self
        }
    }
}

impl VerifiedCache {
    /// A cache within `budget_bytes` of memory (0 disables it).
    pub fn new(budget_bytes: usize) -> Self {
        let capacity = budget_bytes / ENTRY_BYTES;
        let hasher = TailHash::random();
        Self {
            shards: (0..SHARDS)
                .map(|_| ShardCell {
                    lock: RwLock::new(Shard {
                        map: HashMap::with_hasher(hasher),
                        slots: Vec::new(),
                        small: VecDeque::new(),
                        main: VecDeque::new(),
                        ghost: VecDeque::new(),
                        ghosts: HashSet::new(),
                    }),
                    hits: AtomicU64::new(0),
                    misses: AtomicU64::new(0),
                    evictions: AtomicU64::new(0),
                })
                .collect(),
            hasher,
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn cell(&self, hash: u64) -> &ShardCell {
        // The top bits pick the shard; hashbrown uses the low bits and the
        // top seven for its own tags, so shards still spread within.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// Whether the cache holds anything at all (a budget of 0 turns it
    /// off).
    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    /// The verified form of `token`, if cached. Its signature is known
    /// good; the caller re-checks its claims (time, issuer, audience).
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        let cell = self.cell(self.hasher.token_hash(token));
        let shard = cell.lock.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = shard.map.get(token).map(|&i| &shard.slots[i as usize]) else {
            cell.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let freq = slot.freq.load(Ordering::Relaxed);
        if freq < 3 {
            // Racing hits may lose an increment: the count is a hint.
            slot.freq.store(freq + 1, Ordering::Relaxed);
        }
        cell.hits.fetch_add(1, Ordering::Relaxed);
        Some(slot.token.clone())
    }

    /// Remembers `token`, which passed full verification as `verified`.
    /// Entries whose token has expired (`exp` plus `leeway` before `now`)
    /// leave first when room is needed.
    pub fn insert(&self, token: &str, verified: Arc<VerifiedToken>, now: i64, leeway: i64) {
        if self.per_shard == 0 {
            return;
        }
        let hash = self.hasher.token_hash(token);
        let cell = self.cell(hash);
        let mut shard = cell.lock.write().unwrap_or_else(|e| e.into_inner());
        if shard.map.contains_key(token) {
            return;
        }
        let key: Arc<str> = Arc::from(token);
        let slot = Slot {
            key: key.clone(),
            token: verified,
            freq: AtomicU8::new(0),
        };
        let i = if shard.slots.len() < self.per_shard {
            shard.slots.push(slot);
            shard.slots.len() - 1
        } else {
            let free = shard.evict(self.per_shard, now, leeway, &self.hasher);
            cell.evictions.fetch_add(1, Ordering::Relaxed);
            shard.slots[free] = slot;
            free
        };
        shard.map.insert(key, i as u32);
        if shard.ghosts.remove(&hash) {
            shard.main.push_back(i as u32);
        } else {
            shard.small.push_back(i as u32);
        }
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
    /// Makes room for one entry in a full shard of `cap`; returns the
    /// freed slot, already out of the map and the queues.
    fn evict(&mut self, cap: usize, now: i64, leeway: i64, hasher: &TailHash) -> usize {
        let small_cap = (cap / 10).max(1);
        loop {
            let from_small = self.small.len() >= small_cap || self.main.is_empty();
            let queue = if from_small {
                &mut self.small
            } else {
                &mut self.main
            };
            // Both queues empty cannot happen in a full shard.
            let Some(i) = queue.pop_front() else {
                return self.slots.len() - 1;
            };
            let slot = &self.slots[i as usize];
            let expired = slot.token.claims.exp.saturating_add(leeway) <= now;
            let freq = slot.freq.load(Ordering::Relaxed);
            if !expired && freq > 0 {
                if from_small {
                    slot.freq.store(0, Ordering::Relaxed);
                } else {
                    slot.freq.store(freq - 1, Ordering::Relaxed);
                }
                self.main.push_back(i);
                continue;
            }
            let key = slot.key.clone();
            self.map.remove(&*key);
            if from_small && !expired {
                let fingerprint = hasher.token_hash(&key);
                self.ghost.push_back(fingerprint);
                self.ghosts.insert(fingerprint);
                if self.ghost.len() > cap
                    && let Some(old) = self.ghost.pop_front()
                {
                    self.ghosts.remove(&old);
                }
            }
            return i as usize;
        }
    }
}

/// Hashes a token by the last 16 bytes of its text (its signature) under a
/// per-cache random seed.
///
/// SipHash over a whole ~490-byte token was the largest single cost of a
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
        let mut b = [0u8; 16];
        crate::id::fill_random(&mut b);
        let (lo, hi) = b.split_at(8);
        Self {
            seed: [
                u64::from_le_bytes(lo.try_into().unwrap_or_default()),
                u64::from_le_bytes(hi.try_into().unwrap_or_default()),
            ],
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
                client_id: "jwtd".into(),
            },
            kid: "k".into(),
            jti: Id128::random(),
            sid: Id128::random(),
            user: None,
        })
    }

    #[test]
    fn only_the_exact_token_hits() {
        let c = VerifiedCache::new(1 << 20);
        let t = "header.payload.signature-of-sixteen";
        c.insert(t, verified(1000), 0, 0);
        assert!(c.get(t).is_some());
        // Same tail (so the same bucket), other bytes: no hit.
        for forged in [
            "header.payloaD.signature-of-sixteen",
            "Header.payload.signature-of-sixteen",
            "x.signature-of-sixteen",
        ] {
            assert_eq!(
                c.hasher.token_hash(forged) == c.hasher.token_hash(t),
                forged.len() == t.len()
            );
            assert!(c.get(forged).is_none(), "{forged}");
        }
    }

    #[test]
    fn tail_hash_depends_on_the_tail_and_the_seed() {
        let h = TailHash::random();
        let a = "header.payload.AAAAAAAAAAAAAAAAAAAAAAAA";
        let b = "header.payload.AAAAAAAAAAAAAAAAAAAAAAAB";
        assert_ne!(h.token_hash(a), h.token_hash(b));
        assert_ne!(h.token_hash(a), TailHash::random().token_hash(a));
        // Shorter than the tail: still hashed, no panic.
        assert_ne!(h.token_hash(""), h.token_hash("x"));
    }

    #[test]
    fn tokens_spread_over_every_shard() {
        // Ed25519 signatures end in a base64 character carrying 2 bits, so
        // choosing the shard by the last byte alone would use 4 of 32.
        let h = TailHash::random();
        let mut seen = [0usize; SHARDS];
        for i in 0..8192u32 {
            let sig = crate::b64::encode([i.to_le_bytes(), (i * 7919).to_le_bytes()].concat());
            seen[(h.token_hash(&format!("h.p.{sig}")) >> 32) as usize % SHARDS] += 1;
        }
        assert!(seen.iter().all(|&n| n > 8192 / SHARDS / 2), "{seen:?}");
    }

    /// Tokens that land in shard 0 of `c`.
    fn in_shard_zero(c: &VerifiedCache, n: usize) -> Vec<String> {
        (0..100_000u32)
            .map(|i| format!("token-{i}"))
            .filter(|t| ((c.hasher.token_hash(t) >> 32) as usize).is_multiple_of(SHARDS))
            .take(n)
            .collect()
    }

    #[test]
    fn a_full_shard_evicts_unused_entries_and_expired_ones_first() {
        // One slot per shard.
        let c = VerifiedCache::new(SHARDS * ENTRY_BYTES);
        let t = in_shard_zero(&c, 3);
        c.insert(&t[0], verified(1000), 0, 0);
        assert!(c.get(&t[0]).is_some(), "cached, and now referenced");
        c.insert(&t[1], verified(1000), 0, 0);
        // t0 was hit, so it moved from the small queue to the main one,
        // came to its front with its count spent, and left: a one-slot
        // shard keeps only the newest.
        assert!(c.get(&t[1]).is_some());
        assert!(c.get(&t[0]).is_none());
        let s = c.stats();
        assert_eq!((s.capacity, s.evictions), (SHARDS as u64, 1));
        // An expired entry goes first, referenced or not.
        c.insert(&t[2], verified(1000), 2000, 0);
        assert!(c.get(&t[2]).is_some() && c.get(&t[1]).is_none());
    }

    #[test]
    fn a_scan_of_one_off_tokens_does_not_push_out_the_ones_in_use() {
        let c = VerifiedCache::new(SHARDS * 64 * ENTRY_BYTES);
        let hot: Vec<String> = (0..512u32).map(|i| format!("hot-{i}")).collect();
        for t in &hot {
            c.insert(t, verified(1000), 0, 0);
        }
        // A scan of 20,000 one-off tokens, with the hot set used between.
        for i in 0..20_000u32 {
            let cold = format!("cold-{i}");
            if c.get(&cold).is_none() {
                c.insert(&cold, verified(1000), 0, 0);
            }
            let _ = c.get(&hot[i as usize % hot.len()]);
        }
        let kept = hot.iter().filter(|t| c.get(t).is_some()).count();
        assert!(
            kept > hot.len() * 9 / 10,
            "{kept} of {} hot tokens kept",
            hot.len()
        );
        assert!(c.len() <= SHARDS * 64);
    }

    #[test]
    fn every_hit_is_the_entry_inserted_for_that_token() {
        // Small shards, many more tokens than fit, hits and misses mixed:
        // the map and the queues must keep pointing at the right slots.
        let c = VerifiedCache::new(SHARDS * 8 * ENTRY_BYTES);
        let mut x = 0x9e37_79b9_u64;
        let mut hits = 0;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let token = format!("token-{}", x % 600);
            match c.get(&token) {
                Some(v) => {
                    assert_eq!(v.claims.sub, token);
                    hits += 1;
                }
                None => {
                    let mut v = verified(1000);
                    Arc::make_mut(&mut v).claims.sub = token.clone();
                    c.insert(&token, v, 0, 0);
                }
            }
            assert!(c.len() <= SHARDS * 8);
        }
        assert!(hits > 1000, "{hits}");
        assert_eq!(c.stats().hits, hits);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let c = VerifiedCache::new(0);
        assert!(!c.enabled());
        c.insert("t", verified(1000), 0, 0);
        assert!(c.get("t").is_none());
        assert_eq!(c.stats().capacity, 0);
    }
}
