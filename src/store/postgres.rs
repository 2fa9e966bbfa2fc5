//! The PostgreSQL backend: cluster mode's system of record.
//!
//! Every instance shares it. Correctness across instances rests on three
//! things: row locks (`FOR UPDATE`) where a read decides a write (refresh
//! rotation), transactions for every multi-row change, and an advisory lock
//! held by every transaction that appends to the revocation log, so a
//! sequence number is never visible before a smaller one commits: readers
//! that resume "after seq N" can then never skip a revocation.
//!
//! That lock would cap revocations at one commit latency each (~2,500/s
//! here), so revocations are committed in groups (`store::group`): one
//! transaction takes the lock once, marks every session of the group
//! revoked, appends the whole group's log entries in one statement and
//! commits once. Each caller is answered only after that commit. A group
//! that fails on a statement (one bad job) is rolled back and its jobs run
//! again one transaction each, so the bad one fails alone.

use std::time::Duration;

use jwtd_core::revocation::Revocation;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::group::{Done, GroupCommit, Job, answer_all, fail_all};
use super::migrations::{self, Migration};
use super::types::{
    NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, StoreError,
};

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
        guard: None,
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/postgres/0002_clients_keys_usernames.sql"),
        guard: Some(migrations::USERNAME_FOLDING),
    },
    Migration {
        version: 3,
        sql: include_str!("../../migrations/postgres/0003_refresh_used_ms.sql"),
        guard: None,
    },
];

const MIGRATION_LOCK: i64 = 0x6a77_7464_0002;

mod backend;
pub use backend::PgStore;
use backend::{append_log, lock_log};

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
use sql::{create_session_in, end_sessions_in, refresh_in, run_job};

impl PgStore {
    /// Connects to `url` and migrates the database.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Fail fast when the database is unreachable: requests answer 503
            // and nothing waits behind a dead connection.
            .acquire_timeout(Duration::from_secs(2))
            .connect(url)
            .await?;
        migrate(&pool).await?;
        let group = {
            let pool = pool.clone();
            GroupCommit::start(move |batch| run_group(pool.clone(), batch))
        };
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            group,
        })
    }

    pub(super) async fn revoke_sessions(
        &self,
        req: &SessionRevocation,
    ) -> Result<Revoked, StoreError> {
        self.group
            .run(|reply| Job::RevokeSessions(req.clone(), reply))
            .await
    }

    pub(super) async fn create_session(&self, n: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        create_session_in(&mut tx, n).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn refresh(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(outcome) = refresh_in(&mut tx, r, false).await? {
            tx.commit().await?;
            return Ok(outcome);
        }
        // A theft must append to the log: start again with the log lock
        // taken before any row lock (see `refresh_in`).
        tx.rollback().await?;
        let mut tx = self.begin().await?;
        lock_log(&mut tx).await?;
        let outcome = refresh_in(&mut tx, r, true)
            .await?
            .ok_or_else(|| StoreError::Corrupt("refresh wanted the log lock twice".into()))?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub(super) async fn insert_revocations(&self, rs: &[Revocation]) -> Result<(), StoreError> {
        self.group
            .run(|reply| Job::InsertRevocations(rs.to_vec(), reply))
            .await
    }
}

/// Commits one group of revocations (see the module comment).
async fn run_group(pool: PgPool, batch: Vec<Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e.to_string()),
    };
    match together(&mut tx, &batch).await {
        Ok(results) => {
            let committed = tx.commit().await.map_err(|e| e.to_string());
            answer_all(batch, results, committed);
        }
        // A statement failed (bad data, a constraint): find which job by
        // running each alone. A lost connection or a server going down
        // fails them all at once instead of waiting out a timeout per job.
        Err(e) if !blames_a_statement(&e) => fail_all(batch, &e.to_string()),
        Err(_) => {
            let _ = tx.rollback().await;
            metrics::counter!("jwtd_group_commit_retries_total").increment(1);
            run_each_alone(&pool, batch).await;
        }
    }
}

/// Runs each job in a transaction of its own, in order.
async fn run_each_alone(pool: &PgPool, batch: Vec<Job>) {
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = run_alone(pool, job).await {
            // The server went away meanwhile: the rest would wait for it
            // one by one.
            return fail_all(jobs.collect(), &e);
        }
    }
}

/// Whether an error came from what a statement asked (bad data, a
/// constraint, a conflict between transactions: worth running each job
/// alone) rather than from the connection or the server (SQLSTATE classes
/// 08 connection, 53 resources, 57 operator intervention such as a
/// shutdown or a terminated backend, 58 system, XX internal).
fn blames_a_statement(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(sqlx::Error::Database(db)) => !db.code().is_some_and(|c| {
            ["08", "53", "57", "58", "XX"]
                .iter()
                .any(|k| c.starts_with(k))
        }),
        StoreError::Unavailable(_) => false,
        StoreError::Conflict | StoreError::Corrupt(_) | StoreError::Migration(_) => true,
    }
}

/// Runs a group inside `tx`, which takes the log lock first; answers each
/// job's result, in order. Revocations append to the log together, at the
/// end; any other job (none is queued today) runs whole.
async fn together(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    lock_log(tx).await?;
    let mut results = Vec::with_capacity(batch.len());
    let mut log = Vec::new();
    for job in batch {
        match job {
            Job::RevokeSessions(req, _) => {
                let out = end_sessions_in(tx, req).await?;
                log.extend(out.revocations.iter().cloned());
                results.push(Ok(Done::Revoked(out)));
            }
            Job::InsertRevocations(rs, _) => {
                log.extend(rs.iter().cloned());
                results.push(Ok(Done::Unit));
            }
            other => results.push(Ok(run_job(tx, other).await?)),
        }
    }
    append_log(tx, &log).await?;
    Ok(results)
}

/// Runs one job in a transaction of its own and answers it; `Err` when
/// the connection or server failed (see [`blames_a_statement`]), with the
/// job already answered.
async fn run_alone(pool: &PgPool, job: Job) -> Result<(), String> {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            job.fail(&msg);
            return Err(msg);
        }
    };
    let result = run_job(&mut tx, &job).await;
    let outcome = match &result {
        Ok(_) => tx.commit().await.map_err(|e| e.to_string()),
        Err(e) => {
            let _ = tx.rollback().await;
            // The job's own fault, or the connection's?
            if blames_a_statement(e) {
                Ok(())
            } else {
                Err(e.to_string())
            }
        }
    };
    job.answer(result, &outcome);
    outcome
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    // Instances starting together must not migrate twice.
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    let result = async {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL, checksum BYTEA);
             ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum BYTEA;",
        )
        .execute(&mut *conn)
        .await?;
        for m in MIGRATIONS {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sql::migrate_one(&mut tx, m).await?;
            tx.commit().await?;
        }
        Ok::<(), StoreError>(())
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    result
}
