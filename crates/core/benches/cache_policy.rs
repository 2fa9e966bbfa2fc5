//! Hit rates of eviction policies for the verified-token cache, on the
//! access patterns a fleet makes, so the policy is chosen by measurement:
//!
//! * `clear` — the first policy: a full shard is emptied;
//! * `clock` — a reference bit and a hand that gives a second chance;
//! * `sampled-lru` — evict the least recently used of 5 random entries;
//! * `s3-fifo` — a small FIFO (10%) for new entries, a main FIFO with
//!   2-bit frequencies, and a ghost FIFO of keys recently dropped from the
//!   small one (Yang et al., SOSP 2023): a model, and `VerifiedCache`
//!   itself, which is what jwtd runs.
//!
//! Traces, over tokens numbered 0..N, with a cache of C entries:
//! * `zipf` — token k is presented with probability ∝ 1/(k+1) (a few
//!   clients very busy, a long tail), N = 1,000,000, C = 100,000;
//! * `loop` — round-robin over 1.2 × C tokens (every client equally busy,
//!   the fleet a little larger than the cache);
//! * `scan` — a hot set of C/2 tokens used all the time, interleaved with a
//!   scan of one-off tokens (a crawler, or a burst of fresh logins).
//!
//! Run: `cargo bench -p jwtd-core --bench cache_policy` (prints a table;
//! about a minute).

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jwtd_core::claims::AccessClaims;
use jwtd_core::id::Id128;
use jwtd_core::sigcache::{ENTRY_BYTES, SHARDS, VerifiedCache};
use jwtd_core::token::VerifiedToken;

const REQUESTS: usize = 3_000_000;

/// xorshift64*: deterministic, so every policy sees the same trace.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn zipf(n: usize, requests: usize) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(n);
    let mut sum = 0.0;
    for k in 0..n {
        sum += 1.0 / (k as f64 + 1.0);
        cdf.push(sum);
    }
    let mut rng = Rng(7);
    (0..requests)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * sum;
            cdf.partition_point(|&c| c < u) as u32
        })
        .collect()
}

fn looped(n: usize, requests: usize) -> Vec<u32> {
    (0..requests).map(|i| (i % n) as u32).collect()
}

fn scan(hot: usize, requests: usize) -> Vec<u32> {
    let mut rng = Rng(11);
    let mut next_cold = hot as u32;
    (0..requests)
        .map(|i| {
            if i % 2 == 0 {
                rng.below(hot) as u32
            } else {
                next_cold += 1;
                next_cold
            }
        })
        .collect()
}

trait Policy {
    /// Looks `k` up; on a miss, inserts it. Whether it was a hit.
    fn access(&mut self, k: u32) -> bool;
}

struct Clear {
    cap: usize,
    set: std::collections::HashSet<u32>,
}

impl Policy for Clear {
    fn access(&mut self, k: u32) -> bool {
        if self.set.contains(&k) {
            return true;
        }
        // Per shard in the old cache; one shard here, same behaviour.
        if self.set.len() >= self.cap {
            self.set.clear();
        }
        self.set.insert(k);
        false
    }
}

struct Clock {
    cap: usize,
    hand: usize,
    keys: Vec<(u32, bool)>,
    at: HashMap<u32, usize>,
}

impl Policy for Clock {
    fn access(&mut self, k: u32) -> bool {
        if let Some(&i) = self.at.get(&k) {
            self.keys[i].1 = true;
            return true;
        }
        if self.keys.len() < self.cap {
            self.at.insert(k, self.keys.len());
            self.keys.push((k, false));
            return false;
        }
        loop {
            let i = self.hand;
            self.hand = (i + 1) % self.cap;
            if std::mem::replace(&mut self.keys[i].1, false) {
                continue;
            }
            self.at.remove(&self.keys[i].0);
            self.keys[i] = (k, false);
            self.at.insert(k, i);
            return false;
        }
    }
}

/// The real cache, with one shared verified value and tokens named by
/// their number.
struct Real {
    cache: VerifiedCache,
    value: Arc<VerifiedToken>,
    names: Vec<String>,
}

impl Policy for Real {
    fn access(&mut self, k: u32) -> bool {
        let name = &self.names[k as usize];
        if self.cache.get(name).is_some() {
            return true;
        }
        self.cache.insert(name, self.value.clone(), 0, 0);
        false
    }
}

struct SampledLru {
    cap: usize,
    tick: u64,
    keys: Vec<u32>,
    last: HashMap<u32, (usize, u64)>,
    rng: Rng,
}

impl Policy for SampledLru {
    fn access(&mut self, k: u32) -> bool {
        self.tick += 1;
        if let Some(e) = self.last.get_mut(&k) {
            e.1 = self.tick;
            return true;
        }
        if self.keys.len() < self.cap {
            self.last.insert(k, (self.keys.len(), self.tick));
            self.keys.push(k);
            return false;
        }
        let victim = (0..5)
            .map(|_| self.rng.below(self.keys.len()))
            .min_by_key(|&i| self.last[&self.keys[i]].1)
            .unwrap();
        self.last.remove(&self.keys[victim]);
        self.keys[victim] = k;
        self.last.insert(k, (victim, self.tick));
        false
    }
}

struct S3Fifo {
    small_cap: usize,
    main_cap: usize,
    small: VecDeque<u32>,
    main: VecDeque<u32>,
    ghost: VecDeque<u32>,
    freq: HashMap<u32, u8>,
    ghosts: std::collections::HashSet<u32>,
}

impl S3Fifo {
    fn new(cap: usize) -> Self {
        let small_cap = (cap / 10).max(1);
        Self {
            small_cap,
            main_cap: cap - small_cap,
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            freq: HashMap::new(),
            ghosts: std::collections::HashSet::new(),
        }
    }

    fn evict_main(&mut self) {
        while let Some(k) = self.main.pop_front() {
            let f = self.freq.get(&k).copied().unwrap_or(0);
            if f > 0 {
                self.freq.insert(k, f - 1);
                self.main.push_back(k);
            } else {
                self.freq.remove(&k);
                return;
            }
        }
    }

    fn evict_small(&mut self) {
        while let Some(k) = self.small.pop_front() {
            if self.freq.get(&k).copied().unwrap_or(0) > 0 {
                if self.main.len() >= self.main_cap {
                    self.evict_main();
                }
                self.freq.insert(k, 0);
                self.main.push_back(k);
            } else {
                self.freq.remove(&k);
                self.ghost.push_back(k);
                self.ghosts.insert(k);
                if self.ghost.len() > self.main_cap {
                    let old = self.ghost.pop_front().unwrap();
                    self.ghosts.remove(&old);
                }
                return;
            }
        }
    }
}

impl Policy for S3Fifo {
    fn access(&mut self, k: u32) -> bool {
        if let Some(f) = self.freq.get_mut(&k) {
            *f = (*f + 1).min(3);
            return true;
        }
        if self.ghosts.remove(&k) {
            if self.main.len() >= self.main_cap {
                self.evict_main();
            }
            self.main.push_back(k);
        } else {
            if self.small.len() >= self.small_cap {
                self.evict_small();
            }
            self.small.push_back(k);
        }
        self.freq.insert(k, 0);
        false
    }
}

fn verified() -> Arc<VerifiedToken> {
    Arc::new(VerifiedToken {
        claims: AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            iat: 0,
            nbf: 0,
            exp: i64::MAX / 2,
            jti: String::new(),
            sid: String::new(),
            preferred_username: String::new(),
            client_id: "jwtd".into(),
        },
        kid: "k".into(),
        jti: Id128::random(),
        sid: Id128::random(),
        user: None,
    })
}

fn hit_rate(p: &mut dyn Policy, trace: &[u32]) -> f64 {
    // The first tenth warms the cache and is not counted.
    let warm = trace.len() / 10;
    let mut hits = 0usize;
    for (i, &k) in trace.iter().enumerate() {
        if p.access(k) && i >= warm {
            hits += 1;
        }
    }
    hits as f64 / (trace.len() - warm) as f64
}

fn main() {
    let cap = 100_000;
    let traces: Vec<(&str, Vec<u32>)> = vec![
        ("zipf (1M tokens)", zipf(1_000_000, REQUESTS)),
        ("loop (1.2 x cache)", looped(cap * 6 / 5, REQUESTS)),
        ("scan (hot half + one-offs)", scan(cap / 2, REQUESTS)),
    ];
    let names_needed = traces
        .iter()
        .flat_map(|(_, t)| t.iter())
        .max()
        .map_or(0, |&m| m as usize + 1);
    let names: Vec<String> = (0..names_needed).map(|i| format!("token-{i:08}")).collect();
    println!("cache of {cap} entries, {REQUESTS} requests a trace, hit rate after a 10% warm-up\n");
    println!("| trace | clear | clock | sampled-lru | s3-fifo | s3-fifo (jwtd, 32 shards) |");
    println!("|---|---|---|---|---|---|");
    for (name, trace) in &traces {
        let mut clear = Clear {
            cap,
            set: Default::default(),
        };
        let mut clock = Clock {
            cap,
            hand: 0,
            keys: Vec::new(),
            at: HashMap::new(),
        };
        // The real cache rounds its capacity up to whole shards.
        let mut real = Real {
            cache: VerifiedCache::new(cap.div_ceil(SHARDS) * SHARDS * ENTRY_BYTES),
            value: verified(),
            names: names.clone(),
        };
        let mut lru = SampledLru {
            cap,
            tick: 0,
            keys: Vec::new(),
            last: HashMap::new(),
            rng: Rng(3),
        };
        let mut s3 = S3Fifo::new(cap);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            hit_rate(&mut clear, trace),
            hit_rate(&mut clock, trace),
            hit_rate(&mut lru, trace),
            hit_rate(&mut s3, trace),
            hit_rate(&mut real, trace),
        );
    }
}
