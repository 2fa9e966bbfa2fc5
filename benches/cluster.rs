//! Cluster-mode figures (issue #4): revocation propagation latency across
//! three instances, and durable revocation throughput on PostgreSQL next to
//! SQLite measured in the same run.
//!
//! Needs the machine's PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
//! Run: `cargo bench --bench cluster`.

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jwtd::app::{App, AppState};
use jwtd::config::Config;
use jwtd::store::Store;
use jwtd_core::clock::{Clock, unix_now};
use jwtd_core::id::Id128;
use jwtd_core::revocation::{Revocation, RevocationKind, TokenRef};

const REVOCATIONS: usize = 1000;

fn revocation() -> (Revocation, Id128) {
    let id = Id128::random();
    let now = unix_now();
    let r = Revocation {
        kind: RevocationKind::Token,
        value: id.to_string(),
        revoked_at: now,
        expires_at: now + 3600,
    };
    (r, id)
}

fn indexed(state: &AppState, jti: Id128) -> bool {
    let t = TokenRef {
        jti,
        sid: Id128([0; 16]),
        sub: "",
        user: None,
        iat: 0,
        kid: "",
    };
    state.index.check(&t).is_some()
}

async fn fresh_db() -> Option<String> {
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .ok()?;
    let name = format!(
        "jwtd_bench_{}",
        Id128::random()
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .ok()?;
    Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn propagation(db: &str) {
    let channel = format!("jwtd-bench:{}", Id128::random());
    let mut states = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = Config::for_data_dir(dir.path()).expect("for_data_dir succeeds");
        config.database_url = db.into();
        config.serve.redis_url = Some("redis://127.0.0.1:6379".into());
        config.serve.redis_channel = channel.clone();
        config.issuer = "http://bench".into();
        let app = App::build(config, Clock::system()).await.expect("builds");
        states.push(app.state.clone());
        tokio::spawn(app.run(std::future::pending()));
        std::mem::forget(dir);
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // subscriptions settle
    let (a, others) = (&states[0], &states[1..]);
    let mut lat = Vec::with_capacity(REVOCATIONS);
    for _ in 0..REVOCATIONS {
        let (r, jti) = revocation();
        a.store
            .insert_revocations(std::slice::from_ref(&r))
            .await
            .expect("the revocations are stored");
        // From the moment the revocation is durable (the moment A could
        // acknowledge it) until both other instances enforce it.
        let start = Instant::now();
        a.committed(std::slice::from_ref(&r)).await;
        while !others.iter().all(|s| indexed(s, jti)) {
            tokio::task::yield_now().await;
        }
        lat.push(start.elapsed());
    }
    lat.sort();
    println!(
        "propagation A -> B and C over {REVOCATIONS} revocations: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

/// Revocations committed per second by `tasks` concurrent writers, each
/// committing one revocation per transaction, for `secs`.
async fn throughput(store: Store, tasks: usize, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, done) = (store.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let (r, _) = revocation();
                if store
                    .insert_revocations(std::slice::from_ref(&r))
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    done.load(Ordering::Relaxed) as f64 / secs as f64
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("constructs");
    rt.block_on(async {
        let Some(db) = fresh_db().await else {
            println!("skipped: PostgreSQL at 127.0.0.1:5432 is not reachable");
            return;
        };
        propagation(&db).await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let sqlite = Store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
            .await
            .expect("the store opens");
        let pg = Store::open(&db).await.expect("the store opens");
        for tasks in [1, 64] {
            let s = throughput(sqlite.clone(), tasks, 3).await;
            let p = throughput(pg.clone(), tasks, 3).await;
            println!(
                "durable revocations/s, {tasks} writers: SQLite {s:.0}, PostgreSQL {p:.0} ({:.2}x SQLite)",
                p / s
            );
        }
    });
}
