//! Startup with 1,000,000 live revocations in the embedded store: open the
//! database, load keys, read every live revocation and build the index.
//!
//! Run: `cargo bench --bench startup`.

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use jwtd::config::Config;
use jwtd::state::AppState;
use jwtd_core::clock::{Clock, unix_now};
use jwtd_core::id::Id128;
use jwtd_core::revocation::{Revocation, RevocationKind};

const LIVE: usize = 1_000_000;

fn startup(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("constructs");
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::for_data_dir(dir.path()).expect("for_data_dir succeeds");
    let now = unix_now();
    rt.block_on(async {
        // First start creates the schema and keys; then fill the log.
        let state = AppState::new(config.clone(), Clock::system())
            .await
            .expect("constructs");
        let half = LIVE / 2;
        let rows: Vec<Revocation> = (0..LIVE)
            .map(|i| Revocation {
                kind: if i < half {
                    RevocationKind::Token
                } else {
                    RevocationKind::Session
                },
                value: Id128::random().to_string(),
                revoked_at: now,
                expires_at: now + 3600,
            })
            .collect();
        state
            .store
            .insert_revocations(&rows)
            .await
            .expect("the revocations are stored");
        state.store.close().await;
    });
    let mut g = c.benchmark_group("startup");
    g.sample_size(10);
    g.bench_function("1M_live_revocations", |b| {
        b.iter(|| {
            rt.block_on(async {
                let state = AppState::new(config.clone(), Clock::system())
                    .await
                    .expect("constructs");
                assert_eq!(state.enforcement.view.index().len(), LIVE);
                state.store.close().await;
            })
        })
    });
    g.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
