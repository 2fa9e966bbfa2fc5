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
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::migrations::Migration;
use super::{NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, StoreError};

/// See [`SqliteStore::change_stamp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeStamp([Option<(u64, Option<std::time::SystemTime>)>; 2]);

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../../migrations/sqlite/0001_init.sql"),
}];

/// SQLite store: one writer connection, a few readers, and a group
/// committer for revocations.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    group: GroupCommit,
    /// The database file (`None` in memory): its and its WAL's metadata
    /// tell whether anyone has committed since a poll.
    file: Option<std::path::PathBuf>,
}

/// The shared SQL ([`sql`]), compiled for SQLite: it names the backend
/// through these.
type Db = Sqlite;
type DbRow = SqliteRow;
type DbStore = SqliteStore;
/// SQLite has no row locks; its one writer serialises every write.
const FOR_UPDATE: &str = "";

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
use sql::{create_session_in, insert_revocations_in, refresh_in, revoke_sessions_in};

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        migrate(&writer).await?;
        let file = Some(opts.get_filename().to_path_buf()).filter(|f| f.as_os_str() != ":memory:");
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        let group = GroupCommit::start(writer.clone());
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

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(super) async fn revoke_sessions(
        &self,
        req: &SessionRevocation,
    ) -> Result<Revoked, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.group
            .submit(Job::RevokeSessions(req.clone(), tx))
            .await?;
        rx.await.unwrap_or_else(|_| Err(group_gone()))
    }

    pub(super) async fn insert_revocations(&self, rs: &[Revocation]) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.group
            .submit(Job::InsertRevocations(rs.to_vec(), tx))
            .await?;
        rx.await.unwrap_or_else(|_| Err(group_gone()))
    }

    pub(super) async fn create_session(&self, n: &NewSession) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.group.submit(Job::CreateSession(n.clone(), tx)).await?;
        rx.await.unwrap_or_else(|_| Err(group_gone()))
    }

    pub(super) async fn refresh(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.group.submit(Job::Refresh(r.clone(), tx)).await?;
        rx.await.unwrap_or_else(|_| Err(group_gone()))
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        // A SQLite read transaction is a snapshot already (WAL).
        Ok(self.reader.begin().await?)
    }
}

/// SQLite runs one write transaction at a time (`BEGIN IMMEDIATE`), so the
/// log is in commit order already.
async fn lock_log(_tx: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
    Ok(())
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

/// Group commit: writes on the hot paths (revocations, logins, refreshes)
/// from concurrent requests share one transaction and so one fsync. Each is answered only after that commit,
/// so "2xx means durable" holds unchanged; each runs inside its own
/// savepoint, so one failing job fails alone.
///
/// The queue is bounded ([`QUEUE`]): past it, writers wait for room, so a
/// flood slows its senders down instead of growing memory. The committing
/// task is supervised: if it panics, the jobs of its batch fail (503, as
/// any failed commit) and a new task takes over the queue, so one bad job
/// cannot leave every later write failing.
#[derive(Clone, Debug)]
struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// Jobs waiting for a commit, at most.
const QUEUE: usize = 4096;

/// Where a job's result goes.
type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write waiting for the next group commit, with where to send its result.
#[derive(Debug)]
enum Job {
    RevokeSessions(SessionRevocation, Reply<Revoked>),
    InsertRevocations(Vec<Revocation>, Reply<()>),
    CreateSession(NewSession, Reply<()>),
    Refresh(RefreshRequest, Reply<RefreshOutcome>),
    /// Panics inside the committing task, to test its supervision.
    #[cfg(test)]
    Panic(Reply<()>),
}

/// Most jobs in one transaction: bounds how long the first waits.
const MAX_GROUP: usize = 256;

fn group_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

fn unavailable(msg: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(msg.to_owned())))
}

impl GroupCommit {
    fn start(writer: SqlitePool) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        tokio::spawn(async move {
            loop {
                let worker = tokio::spawn(commit_batches(writer.clone(), rx.clone()));
                match worker.await {
                    Err(e) if e.is_panic() => {
                        metrics::counter!("jwtd_group_commit_restarts_total").increment(1);
                        tracing::error!("group commit task panicked; its batch failed, restarting");
                    }
                    // Every store handle is gone, or the runtime is ending.
                    _ => return,
                }
            }
        });
        Self { jobs }
    }

    async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| group_gone())
    }
}

/// Commits batches until every sender is gone. The receiver is shared with
/// the supervisor so a replacement task picks up the same queue.
async fn commit_batches(
    writer: SqlitePool,
    rx: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
) {
    let mut rx = rx.lock().await;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_group(&writer, batch).await;
    }
}

/// Sends a job's result once the group's commit is known: a job that
/// succeeded inside a group whose commit failed is reported as failed.
type Settle = Box<dyn FnOnce(Option<&str>) + Send>;

fn settle<T: Send + 'static>(result: Result<T, StoreError>, reply: Reply<T>) -> (bool, Settle) {
    let ok = result.is_ok();
    let send = Box::new(move |commit_error: Option<&str>| {
        let result = match (commit_error, result) {
            (Some(msg), Ok(_)) => Err(unavailable(msg)),
            (_, r) => r,
        };
        let _ = reply.send(result);
    });
    (ok, send)
}

/// Runs one job inside the open transaction.
async fn run_job(tx: &mut Transaction<'static, Sqlite>, job: Job) -> (bool, Settle) {
    match job {
        Job::RevokeSessions(req, reply) => settle(revoke_sessions_in(tx, &req).await, reply),
        Job::InsertRevocations(rs, reply) => settle(insert_revocations_in(tx, &rs).await, reply),
        Job::CreateSession(n, reply) => settle(create_session_in(tx, &n).await, reply),
        // One writer: the log is always "locked", so the outcome is final.
        #[cfg(test)]
        Job::Panic(_) => panic!("a job that panics"),
        Job::Refresh(r, reply) => {
            let outcome = refresh_in(tx, &r, true).await.and_then(|o| {
                o.ok_or_else(|| StoreError::Corrupt("refresh without an outcome".into()))
            });
            settle(outcome, reply)
        }
    }
}

async fn run_group(writer: &SqlitePool, batch: Vec<Job>) {
    let mut done: Vec<Settle> = Vec::with_capacity(batch.len());
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                // Nothing ran: each job fails with the reason.
                let (_, send) = match job {
                    Job::RevokeSessions(_, reply) => {
                        settle::<Revoked>(Err(unavailable(&msg)), reply)
                    }
                    Job::InsertRevocations(_, reply) => settle::<()>(Err(unavailable(&msg)), reply),
                    Job::CreateSession(_, reply) => settle::<()>(Err(unavailable(&msg)), reply),
                    Job::Refresh(_, reply) => {
                        settle::<RefreshOutcome>(Err(unavailable(&msg)), reply)
                    }
                    #[cfg(test)]
                    Job::Panic(reply) => settle::<()>(Err(unavailable(&msg)), reply),
                };
                send(None);
            }
            return;
        }
    };
    for job in batch {
        // Each job in its own savepoint: one that fails is rolled back
        // alone and the others still commit.
        let savepoint = sqlx::query("SAVEPOINT job").execute(&mut *tx).await;
        let (ok, send) = run_job(&mut tx, job).await;
        if savepoint.is_ok() {
            if !ok {
                let _ = sqlx::query("ROLLBACK TO job").execute(&mut *tx).await;
            }
            let _ = sqlx::query("RELEASE job").execute(&mut *tx).await;
        }
        done.push(send);
    }
    // One commit, one fsync, for the whole group; nobody hears back before it.
    let committed = tx.commit().await.map_err(|e| e.to_string());
    for send in done {
        send(committed.as_ref().err().map(String::as_str));
    }
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
        let (tx, rx) = oneshot::channel();
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
}
