//! The embedded SQLite backend.
//!
//! Durability: WAL with `synchronous=FULL`, so every commit is fsynced before
//! it returns; an acknowledged revocation survives a process crash *and* a
//! power loss. Writes go through a pool of one connection, so writers queue
//! in-process instead of spinning on SQLite's lock, and each write
//! transaction starts with `BEGIN IMMEDIATE` so a concurrent writer in
//! another process (the CLI) is waited for (busy timeout) rather than failing
//! half-way. Reads use a separate pool and never block on the writer (WAL).

use std::str::FromStr;
use std::time::Duration;

use jwtd_core::revocation::Revocation;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::group::{Done, GroupCommit, Job, answer_all, fail_all};
use super::migrations::{self, Migration};
use super::types::{
    NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, StoreError,
};

/// See [`SqliteStore::change_stamp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeStamp([Option<(u64, Option<std::time::SystemTime>)>; 2]);

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
        guard: None,
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/sqlite/0002_clients_keys_usernames.sql"),
        guard: Some(migrations::USERNAME_FOLDING),
    },
    Migration {
        version: 3,
        sql: include_str!("../../migrations/sqlite/0003_refresh_used_ms.sql"),
        guard: None,
    },
];

mod backend;
pub use backend::SqliteStore;

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
use sql::run_job;

mod private;
mod refreshes;

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if opts.get_filename().as_os_str() != ":memory:" {
            let tightened = private::prepare(opts.get_filename())
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
            for f in tightened {
                tracing::warn!(file = %f.display(), "store file was readable by others: now 0600");
            }
        }
        // Profiled under a refresh load (docs/benchmarks.md): the writer
        // reads every session and refresh token it changes, and a page
        // cache larger than SQLite's 2 MiB default keeps a busy instance's
        // working set out of the kernel's read path; the statement
        // journals of multi-row statements (a group's batched writes) went
        // to a temporary file, a write syscall per page, and now stay in
        // memory. Readers keep the defaults.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                opts.clone()
                    .pragma("cache_size", "-65536")
                    .pragma("temp_store", "memory"),
            )
            .await?;
        migrate(&writer).await?;
        let file = Some(opts.get_filename().to_path_buf()).filter(|f| f.as_os_str() != ":memory:");
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        let group = {
            let writer = writer.clone();
            GroupCommit::start(move |batch| run_group(writer.clone(), batch))
        };
        Ok(Self {
            writer,
            reader,
            group,
            file,
        })
    }

    /// A stamp that changes whenever any process commits to the database:
    /// size and modification time of the database file and its WAL (every
    /// commit appends to the WAL; a checkpoint rewrites the file). Two
    /// `stat` calls, against two queries through the driver for a poll.
    pub fn change_stamp(&self) -> Option<ChangeStamp> {
        let file = self.file.as_ref()?;
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        let meta = |p: &std::path::Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.len(), m.modified().ok()))
        };
        Some(ChangeStamp([meta(file), meta(std::path::Path::new(&wal))]))
    }

    pub(super) async fn revoke_sessions(
        &self,
        req: &SessionRevocation,
    ) -> Result<Revoked, StoreError> {
        self.group
            .run(|reply| Job::RevokeSessions(req.clone(), reply))
            .await
    }

    pub(super) async fn insert_revocations(&self, rs: &[Revocation]) -> Result<(), StoreError> {
        self.group
            .run(|reply| Job::InsertRevocations(rs.to_vec(), reply))
            .await
    }

    pub(super) async fn create_session(&self, n: &NewSession) -> Result<(), StoreError> {
        self.group
            .run(|reply| Job::CreateSession(n.clone(), reply))
            .await
    }

    pub(super) async fn refresh(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        self.group.run(|reply| Job::Refresh(r.clone(), reply)).await
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL, checksum BLOB)",
    )
    .execute(&mut *tx)
    .await?;
    // Tables made by releases before checksums lack the column.
    let has_checksum: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_checksum == 0 {
        sqlx::query("ALTER TABLE schema_migrations ADD COLUMN checksum BLOB")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    for m in MIGRATIONS {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        sql::migrate_one(&mut tx, m).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Commits one group (see [`group`](super::group)): one `BEGIN IMMEDIATE`,
/// every job, one commit and one fsync for them all; nobody hears back
/// before it.
///
/// Jobs run back to back, without a savepoint each: on SQLite every
/// statement is a hop to the connection's thread, and two more per job
/// were a third of a refresh's. A job that fails (rare: a deleted user, a
/// broken disk) rolls the group back, and it runs again with a savepoint
/// per job, so the one that fails fails alone.
async fn run_group(writer: SqlitePool, batch: Vec<Job>) {
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e.to_string()),
    };
    match run_all(&mut tx, &batch).await {
        Ok(results) => {
            let committed = tx.commit().await.map_err(|e| e.to_string());
            answer_all(batch, results.into_iter().map(Ok).collect(), committed);
        }
        Err(_) => {
            // Nothing of it commits either way: an uncommitted transaction
            // rolls back when dropped.
            let _ = tx.rollback().await;
            metrics::counter!("jwtd_group_commit_retries_total").increment(1);
            run_savepointed(&writer, batch).await;
        }
    }
}

/// Runs a group's jobs in order inside `tx`; a run of two or more
/// refreshes goes through [`refreshes::rotate_run`]. The first failure
/// stops it.
async fn run_all(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &[Job],
) -> Result<Vec<Done>, StoreError> {
    let mut results = Vec::with_capacity(batch.len());
    let mut i = 0;
    while i < batch.len() {
        let refreshes = batch[i..]
            .iter()
            .take_while(|j| matches!(j, Job::Refresh(..)))
            .count();
        if refreshes < 2 {
            results.push(run_job(tx, &batch[i]).await?);
            i += 1;
            continue;
        }
        let run: Vec<&RefreshRequest> = batch[i..i + refreshes]
            .iter()
            .filter_map(|j| match j {
                Job::Refresh(r, _) => Some(r),
                _ => None,
            })
            .collect();
        let outcomes = refreshes::rotate_run(tx, &run).await?;
        for (j, outcome) in outcomes.into_iter().enumerate() {
            results.push(match outcome {
                Some(o) => Done::Refresh(Box::new(o)),
                None => run_job(tx, &batch[i + j]).await?,
            });
        }
        i += run.len();
    }
    Ok(results)
}

/// Runs a group again with each job in its own savepoint: one that fails
/// is rolled back alone and the others still commit. If the savepoint
/// machinery itself fails (a savepoint that cannot be made, rolled back
/// to or released), the transaction's state is unknown: it is abandoned
/// whole, that job fails, and the others run again in a new one, so a
/// failed job's partial writes can never commit with its group-mates.
async fn run_savepointed(writer: &SqlitePool, mut batch: Vec<Job>) {
    loop {
        let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch, &e.to_string()),
        };
        let mut results = Vec::with_capacity(batch.len());
        let mut broken = None;
        for (i, job) in batch.iter().enumerate() {
            match in_savepoint(&mut tx, job).await {
                Ok(r) => results.push(r),
                Err(e) => {
                    broken = Some((i, e));
                    break;
                }
            }
        }
        let Some((i, e)) = broken else {
            let committed = tx.commit().await.map_err(|e| e.to_string());
            return answer_all(batch, results, committed);
        };
        // Dropped uncommitted, the transaction rolls back even if this
        // explicit rollback reports an error.
        if let Err(rb) = tx.rollback().await {
            tracing::warn!(error = %rb, "rollback of a broken group failed");
        }
        tracing::warn!(error = %e, "a job broke its savepoint; the group runs again without it");
        batch.remove(i).fail(&e.to_string());
        if batch.is_empty() {
            return;
        }
    }
}

/// Runs `job` in its own savepoint inside `tx`: `Ok` with the job's
/// outcome (a failed job rolled back to the savepoint), or `Err` when the
/// savepoint could not be made, rolled back to or released.
async fn in_savepoint(
    tx: &mut Transaction<'static, Sqlite>,
    job: &Job,
) -> Result<Result<Done, StoreError>, sqlx::Error> {
    sqlx::query("SAVEPOINT job").execute(&mut **tx).await?;
    let r = run_job(tx, job).await;
    if r.is_err() {
        sqlx::query("ROLLBACK TO job").execute(&mut **tx).await?;
    }
    sqlx::query("RELEASE job").execute(&mut **tx).await?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtd_core::revocation::RevocationKind;

    #[tokio::test]
    async fn writes_go_on_after_the_committing_task_panics() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.expect("the store opens");
        let (tx, rx) = tokio::sync::oneshot::channel();
        store
            .group
            .submit(Job::Panic(tx))
            .await
            .expect("submit succeeds");
        assert!(rx.await.is_err(), "the panicking job got an answer");
        let r = Revocation {
            kind: RevocationKind::Token,
            value: jwtd_core::id::Id128::random().to_string(),
            revoked_at: 1,
            expires_at: 2,
        };
        store
            .insert_revocations(&[r])
            .await
            .unwrap_or_else(|e| panic!("write after the panic: {e}"));
        assert_eq!(
            store.revocations_since(0, 10).await.map(|l| l.len()).ok(),
            Some(1)
        );
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone_and_its_group_commits() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.expect("the store opens");
        let revocation = || Revocation {
            kind: RevocationKind::Token,
            value: jwtd_core::id::Id128::random().to_string(),
            revoked_at: 1,
            expires_at: 2,
        };
        // Queued before the committer runs (this runtime has one thread),
        // so they make one group.
        let mut inserts = Vec::new();
        for _ in 0..5 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job = Job::InsertRevocations(vec![revocation()], tx);
            store.group.submit(job).await.expect("submit succeeds");
            inserts.push(rx);
        }
        let (tx, bad) = tokio::sync::oneshot::channel();
        let orphan = NewSession {
            id: "s".into(),
            user_id: "no such user".into(),
            now: 1,
            user_agent: None,
            ip: None,
            refresh_hash: vec![1; 32],
            refresh_expires_at: 2,
            access_expires_at: 2,
            clears_login_attempts: None,
            client_id: "jwtd".into(),
        };
        store
            .group
            .submit(Job::CreateSession(orphan, tx))
            .await
            .expect("submit succeeds");
        for _ in 0..5 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job = Job::InsertRevocations(vec![revocation()], tx);
            store.group.submit(job).await.expect("submit succeeds");
            inserts.push(rx);
        }
        let bad = bad.await.expect("the job is answered");
        assert!(bad.is_err(), "a session of no user was created");
        for rx in inserts {
            let r = rx.await.expect("the job is answered");
            assert!(r.is_ok(), "a good job failed with the bad one: {r:?}");
        }
        assert_eq!(
            store.revocations_since(0, 100).await.map(|l| l.len()).ok(),
            Some(10),
            "the group's good revocations are durable"
        );
    }

    /// A job that fails after a partial write inside its savepoint (and
    /// one that also breaks the savepoint, so rolling back to it fails)
    /// leaves nothing behind, and its group-mates commit (#21 item 5).
    #[tokio::test]
    async fn a_job_failing_after_partial_writes_leaves_nothing() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.expect("the store opens");
        let partial = |v: &'static str| -> &'static str {
            match v {
                "a" => {
                    "INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES ('token', 'partial-a', 1, 2)"
                }
                _ => {
                    "INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES ('token', 'partial-b', 1, 2)"
                }
            }
        };
        let faults = [
            vec![partial("a")],
            // Releases its own savepoint: the rollback to it then fails.
            vec![partial("b"), "RELEASE job"],
        ];
        for fault in faults {
            let good_job = || {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let r = Revocation {
                    kind: RevocationKind::Token,
                    value: jwtd_core::id::Id128::random().to_string(),
                    revoked_at: 1,
                    expires_at: 2,
                };
                (Job::InsertRevocations(vec![r], tx), rx)
            };
            // Queued before the committer runs (one thread): one group.
            let (first, first_rx) = good_job();
            let (tx, bad) = tokio::sync::oneshot::channel();
            let (last, last_rx) = good_job();
            for job in [first, Job::FailAfter(fault, tx), last] {
                store.group.submit(job).await.expect("submit succeeds");
            }
            let good = [first_rx, last_rx];
            assert!(bad.await.expect("answered").is_err());
            for rx in good {
                let r = rx.await.expect("answered");
                assert!(r.is_ok(), "a group-mate failed with the bad job: {r:?}");
            }
        }
        let log = store.revocations_since(0, 100).await.expect("readable");
        let values: Vec<&str> = log.iter().map(|(_, r)| r.value.as_str()).collect();
        assert_eq!(values.len(), 4, "every good job committed: {values:?}");
        assert!(
            !values.iter().any(|v| v.starts_with("partial")),
            "a failed job's partial write committed: {values:?}"
        );
    }
}
