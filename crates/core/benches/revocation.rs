//! The revocation lookup alone, at 0 and 1,000,000 live entries, for a token
//! that is not revoked (the common case) and one that is; a fleet's index
//! (1M tokens, 100k sessions, 100k user cut-offs, 3 revoked keys) probed by
//! tokens of users who all have a cut-off older than the token, so every
//! check runs to the end; and the memory one entry costs (resident-set
//! growth while inserting 1M entries).
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
        user: Id128::parse_uuid("0193b1c2-0000-7000-8000-000000000000"),
        iat: 1_800_000_000,
        kid: "kid",
    }
}

const USERS: usize = 100_000;

/// A UUIDv7-shaped user id, as jwtd mints them: a millisecond timestamp,
/// then random bits.
fn uuid_v7(ms: u64) -> String {
    let r = Id128::random().0;
    let t = ms.to_be_bytes();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-7{:x}{:02x}-{:02x}{:02x}-{}",
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        r[0] & 0x0f,
        r[1],
        0x80 | (r[2] & 0x3f),
        r[3],
        r[4..10]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// An index as a fleet's looks: 1M tokens, 100k sessions, 100k users with
/// a cut-off (users minted a millisecond apart), 3 revoked keys. Returns it
/// and the user ids.
fn fleet() -> (RevocationIndex, Vec<String>) {
    let (ix, _) = filled(ENTRIES);
    for _ in 0..USERS {
        let _ = ix.insert(&revocation(RevocationKind::Session, Id128::random()));
    }
    let users: Vec<String> = (0..USERS as u64)
        .map(|i| uuid_v7(1_730_000_000_000 + i))
        .collect();
    for u in &users {
        let _ = ix.insert(&Revocation {
            kind: RevocationKind::User,
            value: u.clone(),
            revoked_at: 1_799_999_000,
            expires_at: 1_800_000_900,
        });
    }
    for k in ["old-key-1", "old-key-2", "old-key-3"] {
        let _ = ix.insert(&Revocation {
            kind: RevocationKind::Key,
            value: k.into(),
            revoked_at: 1_799_999_000,
            expires_at: 1_800_000_900,
        });
    }
    (ix, users)
}

fn fleet_lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("revocation_lookup");
    let (ix, users) = fleet();
    assert_eq!(ix.counts(), [ENTRIES, USERS, USERS, 3]);
    let probes: Vec<TokenRef> = (0..PROBES)
        .map(|k| {
            let sub = users[(k * 7919) % USERS].as_str();
            TokenRef {
                jti: Id128::random(),
                sid: Id128::random(),
                sub,
                user: Id128::parse_uuid(sub),
                iat: 1_800_000_000,
                kid: "kid",
            }
        })
        .collect();
    assert!(
        probes
            .iter()
            .all(|t| t.user.is_some() && ix.check(t).is_none())
    );
    let mut i = 0;
    g.bench_function("not_revoked/fleet_with_user_cutoffs", |b| {
        b.iter(|| {
            i = (i + 1) % PROBES;
            black_box(ix.check(black_box(&probes[i])))
        })
    });
    g.finish();
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

criterion_group!(benches, lookups, fleet_lookups);
criterion_main!(benches);
