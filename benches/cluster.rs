//! Cluster-mode figures (issues #4 and #10): revocation propagation latency
//! across three instances, idle and while 64 writers revoke through the
//! first; and durable revocation throughput (single revocations, and
//! session logouts) on PostgreSQL next to SQLite measured in the same run.
//!
//! Needs the machine's PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
//! Run: `cargo bench --bench cluster`.

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jwtd::app::App;
use jwtd::config::Config;
use jwtd::state::AppState;
use jwtd::store::{NewSession, SessionRevocation, Store, UserRecord};
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
    state.enforcement.view.index().check(&t).is_some()
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

/// Propagation from A to B and C, timed over [`REVOCATIONS`] probes while
/// `writers` tasks keep revoking through A as fast as it commits (each
/// published to the others, as a server does).
async fn propagation(db: &str, writers: usize) {
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
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..writers {
        let (a, stop, written) = (a.clone(), stop.clone(), written.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (r, _) = revocation();
                if a.store
                    .insert_revocations(std::slice::from_ref(&r))
                    .await
                    .is_ok()
                {
                    a.enforcement.committed(std::slice::from_ref(&r)).await;
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
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
        a.enforcement.committed(std::slice::from_ref(&r)).await;
        while !others.iter().all(|s| indexed(s, jti)) {
            tokio::task::yield_now().await;
        }
        lat.push(start.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let rate = written.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    for h in load {
        let _ = h.await;
    }
    lat.sort();
    println!(
        "propagation A -> B and C over {REVOCATIONS} revocations, {writers} writers on A ({rate:.0}/s): p50 {:?}, p99 {:?}, max {:?}",
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

/// Session logouts committed per second by `tasks` concurrent writers,
/// each ending one session of its own (as `POST /logout` does), for
/// `secs`; the sessions are made beforehand.
async fn logouts(store: Store, tasks: usize, secs: u64) -> f64 {
    let now = unix_now();
    let user = Id128::random().to_string();
    store
        .create_user(&UserRecord {
            id: user.clone(),
            username: user.clone(),
            password_hash: "$argon2id$bench".into(),
            created_at: now,
        })
        .await
        .expect("the user is created");
    // More sessions than the writers can end in `secs`.
    let per_task = 400 * secs as usize;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, user) = (store.clone(), user.clone());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let id = Id128::random().to_string();
                store
                    .create_session(&NewSession {
                        id: id.clone(),
                        user_id: user.clone(),
                        now,
                        user_agent: None,
                        ip: None,
                        refresh_hash: Id128::random().0.to_vec(),
                        refresh_expires_at: now + 3600,
                        access_expires_at: now + 900,
                        clears_login_attempts: None,
                        client_id: "jwtd".into(),
                    })
                    .await
                    .expect("the session is created");
                ids.push(id);
            }
            ids
        }));
    }
    let mut sessions = Vec::new();
    for h in handles {
        sessions.push(h.await.expect("the task finishes"));
    }
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for ids in sessions {
        let (store, done, user) = (store.clone(), done.clone(), user.clone());
        handles.push(tokio::spawn(async move {
            for id in ids {
                if Instant::now() >= deadline {
                    return;
                }
                let req = SessionRevocation {
                    user_id: user.clone(),
                    only: Some(id),
                    except: None,
                    user_expires_at: None,
                    now,
                    leeway: 30,
                };
                if store.revoke_sessions(&req).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            panic!("the writers ran out of sessions: make more");
        }));
    }
    for h in handles {
        h.await.expect("the task finishes");
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
        propagation(&db, 0).await;
        propagation(&db, 64).await;
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
        let s = logouts(sqlite.clone(), 64, 3).await;
        let p = logouts(pg.clone(), 64, 3).await;
        println!(
            "durable session logouts/s, 64 writers: SQLite {s:.0}, PostgreSQL {p:.0} ({:.2}x SQLite)",
            p / s
        );
    });
}
