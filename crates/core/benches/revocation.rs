//! The revocation lookup alone, at 0 and 1,000,000 live entries, for a token
//! that is not revoked (the common case) and one that is; and the memory one
//! entry costs (resident-set growth while inserting 1M entries).
//!
//! Run: `cargo bench -p jwtd-core --bench revocation`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jwtd_core::id::Id128;
use jwtd_core::revocation::{Revocation, RevocationIndex, RevocationKind, TokenRef};

const ENTRIES: usize = 1_000_000;
/// Probes cycle through this many distinct tokens: far more than the caches
/// hold, so every lookup pays the memory latency a real request would.
const PROBES: usize = 1 << 20;

fn revocation(kind: RevocationKind, id: Id128) -> Revocation {
    Revocation {
        kind,
        value: id.to_string(),
        revoked_at: 1_800_000_000,
        expires_at: 1_800_000_900,
    }
}

/// Fills an index with `n` revoked tokens; returns it and their ids.
fn filled(n: usize) -> (RevocationIndex, Vec<Id128>) {
    let ix = RevocationIndex::new();
    let ids: Vec<Id128> = (0..n).map(|_| Id128::random()).collect();
    for id in &ids {
        let _ = ix.insert(&revocation(RevocationKind::Token, *id));
    }
    (ix, ids)
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn report_memory() {
    let before = resident_bytes();
    let (ix, _) = filled(ENTRIES);
    let after = resident_bytes();
    // The id vector (16 B per entry) is resident too; subtract it.
    let per_entry = (after.saturating_sub(before) as f64 / ENTRIES as f64) - 16.0;
    println!(
        "memory: {:.1} bytes per revoked token ({} entries, RSS +{:.1} MiB incl. 16 B/entry of test ids)",
        per_entry,
        ix.len(),
        after.saturating_sub(before) as f64 / 1048576.0
    );
}

fn token_ref(jti: Id128, sid: Id128) -> TokenRef<'static> {
    TokenRef {
        jti,
        sid,
        sub: "0193b1c2-0000-7000-8000-000000000000",
        iat: 1_800_000_000,
        kid: "kid",
    }
}

fn lookups(c: &mut Criterion) {
    report_memory();
    let mut g = c.benchmark_group("revocation_lookup");
    for n in [0, ENTRIES] {
        let (ix, ids) = filled(n);
        let misses: Vec<TokenRef> = (0..PROBES)
            .map(|_| token_ref(Id128::random(), Id128::random()))
            .collect();
        let mut i = 0;
        g.bench_function(format!("not_revoked/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % PROBES;
                black_box(ix.check(black_box(&misses[i])))
            })
        });
        if n > 0 {
            // Random revoked ids, spread over the whole index (cache misses).
            let hits: Vec<TokenRef> = (0..PROBES)
                .map(|k| token_ref(ids[(k * 7919) % n], Id128::random()))
                .collect();
            let mut j = 0;
            g.bench_function(format!("revoked/{n}"), |b| {
                b.iter(|| {
                    j = (j + 1) % PROBES;
                    black_box(ix.check(black_box(&hits[j])))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
