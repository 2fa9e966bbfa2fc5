//! The whole request-path check of a protected request — bearer parse,
//! signature and claims verification, revocation lookup — for each
//! algorithm, with 0 and 1,000,000 live revocations in the index.
//!
//! Run: `cargo bench --bench request_path`.

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use axum::http::{HeaderMap, HeaderValue, header};
use criterion::{Criterion, criterion_group, criterion_main};
use jwtd::http::{authenticate_parts, bearer};
use jwtd_core::claims::AccessClaims;
use jwtd_core::clock::unix_now;
use jwtd_core::id::Id128;
use jwtd_core::keys::{Algorithm, KeyMaterial, KeyRing};
use jwtd_core::revocation::{Revocation, RevocationIndex, RevocationKind};
use jwtd_core::token::{self, Validation};
use jwtd_core::verifier::{DEFAULT_CACHE_BYTES, Verifier};
use jwtd_core::view::RevocationView;

fn index_with(n: usize) -> RevocationIndex {
    let ix = RevocationIndex::new();
    for _ in 0..n {
        let _ = ix.insert(&Revocation {
            kind: RevocationKind::Token,
            value: Id128::random().to_string(),
            revoked_at: 0,
            expires_at: i64::from(u32::MAX),
        });
    }
    ix
}

fn request_path(c: &mut Criterion) {
    let now = unix_now();
    let validation = Validation {
        issuer: "http://127.0.0.1:8080".into(),
        audience: "jwtd".into(),
        leeway: 30,
    };
    let mut g = c.benchmark_group("request_path");
    for n in [0usize, 1_000_000] {
        let index = RevocationView::new(index_with(n), 0, 0);
        for alg in Algorithm::ALL {
            let key = KeyMaterial::generate(alg).expect("a key is generated");
            let ring = || KeyRing::new(&key, &[]).expect("a key ring");
            let cold = Verifier::new(ring(), 0);
            let cached = Verifier::new(ring(), DEFAULT_CACHE_BYTES);
            let claims = fresh_claims(&validation, now);
            let t = token::issue(cold.ring().active().expect("a signing key"), &claims)
                .expect("issue succeeds");
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).expect("parses"),
            );
            for (name, verifier) in [("cold", &cold), ("cached", &cached)] {
                g.bench_function(format!("{alg}/{n}_revocations/{name}"), |b| {
                    b.iter(|| {
                        let tok = bearer(black_box(&headers))
                            .ok()
                            .flatten()
                            .expect("a bearer token");
                        let ok =
                            authenticate_parts(verifier, &index, &validation, tok, now).is_ok();
                        assert!(ok);
                        black_box(ok)
                    })
                });
            }
        }
    }
    g.finish();
}

/// The claims of a fresh access token: new `jti` and `sid` each call.
fn fresh_claims(validation: &Validation, now: i64) -> AccessClaims {
    AccessClaims {
        iss: validation.issuer.clone(),
        sub: "0193b1c2-0000-7000-8000-000000000000".into(),
        aud: validation.audience.clone(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: Id128::random().to_string(),
        sid: Id128::random().to_string(),
        preferred_username: "alice".into(),
        client_id: "jwtd".into(),
    }
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A fleet: 100,000 distinct live tokens, each seen once before, presented
/// round-robin, so every request is a cache hit on an entry that is not in
/// the CPU's caches.
fn fleet(c: &mut Criterion) {
    const TOKENS: usize = 100_000;
    let now = unix_now();
    let validation = Validation {
        issuer: "http://127.0.0.1:8080".into(),
        audience: "jwtd".into(),
        leeway: 30,
    };
    let index = RevocationView::new(index_with(1_000_000), 0, 0);
    let mut g = c.benchmark_group("request_path");
    for alg in [Algorithm::EdDSA, Algorithm::HS256] {
        let key = KeyMaterial::generate(alg).expect("a key is generated");
        let verifier = Verifier::new(
            KeyRing::new(&key, &[]).expect("a key ring"),
            DEFAULT_CACHE_BYTES,
        );
        let tokens: Vec<String> = (0..TOKENS)
            .map(|_| {
                let claims = fresh_claims(&validation, now);
                token::issue(verifier.ring().active().expect("a signing key"), &claims)
                    .expect("issue succeeds")
            })
            .collect();
        let before = resident_bytes();
        for t in &tokens {
            assert!(authenticate_parts(&verifier, &index, &validation, t, now).is_ok());
        }
        // Only the first algorithm's growth means anything: later ones
        // reuse memory the allocator kept from the ones before.
        if alg == Algorithm::EdDSA {
            println!(
                "{alg}: the cache holds {TOKENS} tokens in {:.0} bytes each (resident-set growth)",
                resident_bytes().saturating_sub(before) as f64 / TOKENS as f64
            );
        }
        let mut i = 0;
        g.bench_function(
            format!("{alg}/1000000_revocations/cached_{TOKENS}_tokens"),
            |b| {
                b.iter(|| {
                    i = (i + 1) % TOKENS;
                    black_box(
                        authenticate_parts(&verifier, &index, &validation, &tokens[i], now).is_ok(),
                    )
                })
            },
        );
        let s = verifier.cache_stats();
        assert_eq!(s.entries, TOKENS as u64, "{s:?}");
    }
    g.finish();
}

criterion_group!(benches, request_path, fleet);
criterion_main!(benches);
