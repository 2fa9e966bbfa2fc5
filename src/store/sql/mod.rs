//! The SQL of the store, written once for both backends and compiled twice.
//!
//! SQLite and PostgreSQL accept the same statements here (`$n`
//! placeholders, `string_agg`, `ON CONFLICT`, `CASE` instead of the two
//! dialects' different two-argument max). So `sqlite.rs` and `postgres.rs`
//! each mount this directory as their child module `sql` (`#[path]`), and
//! each supplies, under the same names, what truly differs:
//! - `Db`, `DbRow`, `DbStore`: the sqlx database, its row type and the
//!   store struct (with `writer` and `reader` pools);
//! - `DbStore::begin()`: a write transaction;
//! - `lock_log(tx)`: how the revocation log is kept in commit order;
//! - `append_log(tx, revocations)`: appends to the log, in as few
//!   statements as the backend allows (the caller holds the log lock);
//! - `LOCK_TOKEN_AND_SESSION`: the row-lock suffix of a refresh's read
//!   (empty for SQLite, whose writer is alone anyway).
//!
//! One file per concern; each reads on its own.

mod clients;
mod jobs;
mod keys;
mod log;
mod purge;
mod rows;
mod sessions;
mod users;

use super::backend::{Db, DbStore};
use crate::store::migrations::{self, Migration, Step};
use crate::store::types::StoreError;

pub(in crate::store) use jobs::run_job;
#[allow(unused_imports)] // SQLite's group reads a run of refreshes at once
pub(in crate::store) use sessions::{RefreshRows, lock_refreshes};
#[allow(unused_imports)] // PostgreSQL's group runs these; SQLite's runs whole jobs
pub(in crate::store) use sessions::{create_session_in, end_sessions_in, refresh_in};

impl DbStore {
    pub(in crate::store) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    pub(in crate::store) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub(in crate::store) async fn secret(
        &self,
        name: &str,
        init: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(init)
            .execute(&mut *tx)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(v)
    }
}

/// Applies `m` if it is new, checks it if not (see [`migrations::step`]),
/// inside the caller's transaction.
pub(in crate::store) async fn migrate_one(
    conn: &mut <Db as sqlx::Database>::Connection,
    m: &Migration,
) -> Result<(), StoreError> {
    let recorded: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT checksum FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *conn)
            .await?;
    match migrations::step(m, recorded)? {
        Step::Done => {}
        Step::Apply => {
            if let Some(g) = m.guard {
                let conflicts: Vec<String> =
                    sqlx::query_scalar(g.query).fetch_all(&mut *conn).await?;
                if !conflicts.is_empty() {
                    return Err(StoreError::Migration(format!(
                        "migration {} refused: {}: {}",
                        m.version,
                        g.refusal,
                        conflicts.join("; ")
                    )));
                }
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql))
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, applied_at, checksum) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(jwtd_core::clock::unix_now())
            .bind(m.checksum())
            .execute(&mut *conn)
            .await?;
        }
        Step::RecordChecksum => {
            sqlx::query("UPDATE schema_migrations SET checksum = $1 WHERE version = $2")
                .bind(m.checksum())
                .bind(m.version)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
