//! The PostgreSQL backend: cluster mode's system of record.
//!
//! Every instance shares it. Correctness across instances rests on three
//! things: row locks (`FOR UPDATE`) where a read decides a write (refresh
//! rotation), transactions for every multi-row change, and an advisory lock
//! held by every transaction that appends to the revocation log, so a
//! sequence number is never visible before a smaller one commits: readers
//! that resume "after seq N" can then never skip a revocation.

use std::time::Duration;

use jwtd_core::revocation::Revocation;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

use super::migrations::Migration;
use super::{NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, StoreError};

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../../migrations/postgres/0001_init.sql"),
}];

/// Advisory lock keys (arbitrary, fixed): one for appending to the
/// revocation log, one for migrations.
const LOG_LOCK: i64 = 0x6a77_7464_0001;
const MIGRATION_LOCK: i64 = 0x6a77_7464_0002;

/// PostgreSQL store: one pool, used for reads and writes alike.
#[derive(Clone, Debug)]
pub struct PgStore {
    writer: PgPool,
    reader: PgPool,
}

/// The shared SQL ([`sql`]), compiled for PostgreSQL: it names the
/// backend through these.
type Db = Postgres;
type DbRow = PgRow;
type DbStore = PgStore;
/// Row locks where a read decides a write (see the module comment).
const FOR_UPDATE: &str = " FOR UPDATE";

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
use sql::{create_session_in, insert_revocations_in, refresh_in, revoke_sessions_in};

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
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.writer.begin().await?)
    }

    pub(super) async fn revoke_sessions(
        &self,
        req: &SessionRevocation,
    ) -> Result<Revoked, StoreError> {
        let mut tx = self.begin().await?;
        let out = revoke_sessions_in(&mut tx, req).await?;
        tx.commit().await?;
        Ok(out)
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
        let mut tx = self.begin().await?;
        insert_revocations_in(&mut tx, rs).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.reader.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Serialises appends to the revocation log until this transaction ends,
/// so sequence order is commit order (re-entrant within a transaction).
async fn lock_log(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOG_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
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
