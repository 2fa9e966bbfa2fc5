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

use futures_util::TryStreamExt as _;
use jwtd_core::keys::{Algorithm, KeyMaterial};
use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    BulkSink, NewSession, PurgeReport, RefreshOutcome, RefreshRequest, Revoked, SessionRecord,
    SessionRevocation, StoreError, StoredKey, UserRecord,
};

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/sqlite/0001_init.sql"))];

/// SQLite store: one writer connection, a few readers.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

const SESSION_COLS: &str = "id, user_id, created_at, last_seen_at, user_agent, ip, expires_at, access_expires_at, revoked_at";

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
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        Ok(Self { writer, reader })
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
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
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(jwtd_core::clock::unix_now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

super::sql::sql_store!(SqliteStore, Sqlite, SqliteRow, "");
