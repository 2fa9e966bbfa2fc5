//! Cluster mode's transactions, interleaved for real: a test holds a lock
//! in a transaction of its own, starts a store operation that must wait for
//! it, checks in `pg_stat_activity` that it does wait, then lets it go.
//! No sleeps decide an order.

use std::time::{Duration, Instant};

use jwtd::core::keys::{Algorithm, KeyMaterial};
use jwtd::core::revocation::{Revocation, RevocationKind};
use jwtd::store::{
    NewSession, Promotion, RefreshOutcome, SessionRevocation, Store, StoreError, UserRecord,
};
use sqlx::PgPool;

use crate::services;
use crate::store_suite::refresh;

const NOW: i64 = 1_900_000_000;

/// The advisory lock of the revocation log (`src/store/postgres.rs`).
const LOG_LOCK: i64 = 0x6a77_7464_0001;

struct Db {
    store: Store,
    raw: PgPool,
}

async fn db() -> Option<Db> {
    let url = services::fresh_database().await?;
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let raw = PgPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    store
        .create_user(&UserRecord {
            id: "u1".into(),
            username: "u1".into(),
            password_hash: "$argon2id$fake".into(),
            created_at: NOW,
        })
        .await
        .expect("the user is created");
    store
        .create_session(&NewSession {
            id: "s1".into(),
            user_id: "u1".into(),
            now: NOW,
            user_agent: None,
            ip: None,
            refresh_hash: b"h0".to_vec(),
            refresh_expires_at: NOW + 1000,
            access_expires_at: NOW + 900,
            clears_login_attempts: None,
            client_id: "jwtd".into(),
        })
        .await
        .expect("the session is created");
    Some(Db { store, raw })
}

fn logout(now: i64) -> SessionRevocation {
    SessionRevocation {
        user_id: "u1".into(),
        only: Some("s1".into()),
        except: None,
        user_expires_at: None,
        now,
        leeway: 30,
    }
}

/// Runs one statement, with `bind` as `$1` when given, in the test's own
/// transaction.
async fn exec(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: &'static str,
    bind: Option<i64>,
) {
    let mut q = sqlx::query(sql);
    if let Some(v) = bind {
        q = q.bind(v);
    }
    q.execute(&mut **tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Waits until `n` backends of this database wait on a lock.
async fn waiting_on_locks(raw: &PgPool, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(raw)
        .await
        .expect("fetch_one succeeds");
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} of {n} operations wait on a lock: the store does not take it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_logout_waits_for_a_refresh_and_covers_the_token_it_minted() {
    let Some(db) = db().await else { return };
    // A refresh in progress: it holds the session row and has raised the
    // session's last access-token expiry.
    let mut refreshing = db.raw.begin().await.expect("begin succeeds");
    exec(
        &mut refreshing,
        "SELECT id FROM sessions WHERE id = 's1' FOR UPDATE",
        None,
    )
    .await;
    exec(
        &mut refreshing,
        "UPDATE sessions SET access_expires_at = $1 WHERE id = 's1'",
        Some(NOW + 5000),
    )
    .await;
    let store = db.store.clone();
    let revoking = tokio::spawn(async move { store.revoke_sessions(&logout(NOW + 1)).await });
    waiting_on_locks(&db.raw, 1).await;
    refreshing.commit().await.expect("commit succeeds");
    let revoked = revoking
        .await
        .expect("the task finishes")
        .expect("the transaction succeeds");
    let session = revoked
        .revocations
        .iter()
        .find(|r| r.kind == RevocationKind::Session)
        .unwrap_or_else(|| panic!("no session revocation"));
    assert_eq!(
        session.expires_at,
        NOW + 5000 + 30,
        "the revocation ends before the token the racing refresh minted"
    );
}

#[tokio::test]
async fn a_refresh_waits_for_a_logout_and_then_fails() {
    let Some(db) = db().await else { return };
    // A logout in progress: log lock, then the session row, revoked.
    let mut logging_out = db.raw.begin().await.expect("begin succeeds");
    exec(
        &mut logging_out,
        "SELECT pg_advisory_xact_lock($1)",
        Some(LOG_LOCK),
    )
    .await;
    exec(
        &mut logging_out,
        "UPDATE sessions SET revoked_at = $1 WHERE id = 's1'",
        Some(NOW + 1),
    )
    .await;
    let store = db.store.clone();
    let refreshing =
        tokio::spawn(async move { store.refresh(&refresh(b"h0", b"h1", NOW + 1)).await });
    waiting_on_locks(&db.raw, 1).await;
    logging_out.commit().await.expect("commit succeeds");
    let outcome = refreshing
        .await
        .expect("the task finishes")
        .expect("the transaction succeeds");
    assert!(
        matches!(outcome, RefreshOutcome::Invalid),
        "a refresh of a session revoked meanwhile minted tokens: {outcome:?}"
    );
}

#[tokio::test]
async fn a_theft_racing_a_global_logout_does_not_deadlock() {
    let Some(db) = db().await else { return };
    // Rotate once and let the grace pass: presenting h0 again is a theft.
    let rotated = db.store.refresh(&refresh(b"h0", b"h1", NOW + 1)).await;
    assert!(matches!(rotated, Ok(RefreshOutcome::Rotated(..))));
    // A global logout that has taken the log lock and is about to lock the
    // user's session rows.
    let mut logging_out = db.raw.begin().await.expect("begin succeeds");
    exec(
        &mut logging_out,
        "SELECT pg_advisory_xact_lock($1)",
        Some(LOG_LOCK),
    )
    .await;
    let store = db.store.clone();
    let theft = tokio::spawn(async move { store.refresh(&refresh(b"h0", b"h9", NOW + 100)).await });
    waiting_on_locks(&db.raw, 1).await;
    // Holding row locks while waiting for the log lock would deadlock here
    // (PostgreSQL would abort one side after deadlock_timeout).
    exec(&mut logging_out, "SET LOCAL lock_timeout = '5s'", None).await;
    exec(
        &mut logging_out,
        "SELECT id FROM sessions WHERE user_id = 'u1' FOR UPDATE",
        None,
    )
    .await;
    exec(
        &mut logging_out,
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = 'u1'",
        Some(NOW + 100),
    )
    .await;
    logging_out.commit().await.expect("commit succeeds");
    let outcome = theft
        .await
        .expect("the refresh task finishes")
        .unwrap_or_else(|e| panic!("the theft check failed: {e}"));
    assert!(matches!(outcome, RefreshOutcome::Invalid), "{outcome:?}");
}

/// An immediate rotation of `store` at `now`, as `keys rotate --now` runs it.
async fn rotate_now(store: &Store, now: i64) -> Result<Option<(String, i64)>, StoreError> {
    let successor = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
    store
        .promote_next_key(&Promotion {
            successor: &successor,
            now,
            delay: 0,
            token_life: 930,
            unless_signing: false,
        })
        .await
}

#[tokio::test]
async fn rotations_on_two_instances_at_once_leave_one_active_key() {
    let Some(db) = db().await else { return };
    let first = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
    db.store
        .add_next_key(&first, NOW)
        .await
        .expect("the key is published");
    rotate_now(&db.store, NOW).await.expect("the key rotates");
    // Hold the signing key's row, so both rotations reach it before either
    // can retire it.
    let mut holding = db.raw.begin().await.expect("begin succeeds");
    exec(
        &mut holding,
        "SELECT kid FROM signing_keys WHERE retired_at IS NULL FOR UPDATE",
        None,
    )
    .await;
    let rotations: Vec<_> = (0..2)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move { rotate_now(&store, NOW + 1).await })
        })
        .collect();
    waiting_on_locks(&db.raw, 2).await;
    holding.commit().await.expect("commit succeeds");
    for r in rotations {
        let done = r.await.expect("the rotation task finishes");
        assert!(matches!(done, Ok(Some(_))), "{done:?}");
    }
    let keys = db.store.keys().await.expect("the keys are read");
    let active = keys.iter().filter(|k| k.signs_at(NOW + 1)).count();
    assert_eq!(active, 1, "two rotations at once left {active} active keys");
    assert_eq!(keys.iter().filter(|k| k.is_next()).count(), 1);
    assert_eq!(keys.len(), 4);
}

fn token_revocation(value: &str) -> Revocation {
    Revocation {
        kind: RevocationKind::Token,
        value: value.to_owned(),
        revoked_at: NOW,
        expires_at: NOW + 900,
    }
}

/// Holds the revocation log's lock in a transaction of the test's own, so
/// the store's next group waits for it.
async fn hold_log_lock(raw: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = raw.begin().await.expect("begin succeeds");
    exec(&mut tx, "SELECT pg_advisory_xact_lock($1)", Some(LOG_LOCK)).await;
    tx
}

/// Starts one revocation per value, each its own task, as concurrent
/// requests would.
fn revoke_each(
    store: &Store,
    values: Vec<String>,
) -> Vec<tokio::task::JoinHandle<Result<(), jwtd::store::StoreError>>> {
    values
        .into_iter()
        .map(|v| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_revocations(&[token_revocation(&v)]).await })
        })
        .collect()
}

/// Lets every spawned task of this (single-threaded) test runtime run up
/// to its first wait.
async fn let_tasks_run() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

/// Holds the log lock, starts one revocation per value, and returns once
/// the store's first group waits for the lock and the rest have queued
/// behind it; the caller lets go by ending the returned transaction.
async fn burst_behind_the_log_lock(
    db: &Db,
    values: Vec<String>,
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    Vec<tokio::task::JoinHandle<Result<(), jwtd::store::StoreError>>>,
) {
    let holder = hold_log_lock(&db.raw).await;
    let writes = revoke_each(&db.store, values);
    waiting_on_locks(&db.raw, 1).await;
    let_tasks_run().await;
    (holder, writes)
}

#[tokio::test]
async fn a_burst_of_revocations_commits_in_groups() {
    let Some(db) = db().await else { return };
    let values: Vec<String> = (0..64).map(|i| format!("burst-{i}")).collect();
    let (holder, writes) = burst_behind_the_log_lock(&db, values).await;
    assert!(
        writes.iter().all(|w| !w.is_finished()),
        "a revocation was answered before it could commit"
    );
    holder.rollback().await.expect("rollback succeeds");
    for w in writes {
        w.await
            .expect("the task finishes")
            .expect("the revocation is stored");
    }
    // xmin is the id of the transaction that wrote each row.
    let (rows, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM revocations")
            .fetch_one(&db.raw)
            .await
            .expect("fetch_one succeeds");
    assert_eq!(rows, 64, "every acknowledged revocation is in the log");
    assert!(
        (1..=2).contains(&transactions),
        "64 concurrent revocations took {transactions} transactions: no group commit"
    );
}

#[tokio::test]
async fn a_revocation_that_fails_fails_alone_in_its_group() {
    let Some(db) = db().await else { return };
    let mut values: Vec<String> = (0..10).map(|i| format!("good-{i}")).collect();
    // PostgreSQL text cannot hold a NUL byte: this insert fails.
    values.insert(5, "bad\0value".into());
    let (holder, writes) = burst_behind_the_log_lock(&db, values).await;
    holder.rollback().await.expect("rollback succeeds");
    let mut outcomes = Vec::new();
    for w in writes {
        outcomes.push(w.await.expect("the task finishes").is_ok());
    }
    assert_eq!(
        outcomes.iter().filter(|ok| !**ok).count(),
        1,
        "only the bad revocation fails: {outcomes:?}"
    );
    assert!(!outcomes[5], "the bad revocation was acknowledged");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM revocations WHERE value LIKE 'good-%'")
            .fetch_one(&db.raw)
            .await
            .expect("fetch_one succeeds");
    assert_eq!(
        rows, 10,
        "the good revocations of the failed group are stored"
    );
}

#[tokio::test]
async fn a_group_whose_connection_dies_fails_and_acknowledges_only_commits() {
    let Some(db) = db().await else { return };
    let values: Vec<String> = (0..16).map(|i| format!("lost-{i}")).collect();
    let (holder, writes) = burst_behind_the_log_lock(&db, values).await;
    // Kill the store's connection while its group waits for the lock.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock') AS k",
    )
    .fetch_one(&db.raw)
    .await
    .expect("fetch_one succeeds");
    assert_eq!(killed, 1, "one group waited on the lock");
    holder.rollback().await.expect("rollback succeeds");
    let mut acknowledged = Vec::new();
    for (i, w) in writes.into_iter().enumerate() {
        if w.await.expect("the task finishes").is_ok() {
            acknowledged.push(format!("lost-{i}"));
        }
    }
    // The group lost its connection before its commit: its revocations
    // fail at once (their callers answer 503 and may retry); any queued
    // behind it commit in the next group, on a new connection.
    assert!(
        acknowledged.len() < 16,
        "the killed group's revocations were acknowledged"
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT value FROM revocations ORDER BY value")
        .fetch_all(&db.raw)
        .await
        .expect("fetch_all succeeds");
    acknowledged.sort();
    assert_eq!(
        stored, acknowledged,
        "exactly the acknowledged revocations are durable"
    );
}
