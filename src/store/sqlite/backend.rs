//! What the shared SQL (`sql/`) needs of this backend, under the names it
//! uses: the store struct, the database and row types, transactions, and
//! how the revocation log is kept in commit order. A module of its own, so
//! the shared SQL imports its siblings and never its parent.

use jwtd_core::revocation::Revocation;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Sqlite, Transaction};

use crate::store::group::GroupCommit;
use crate::store::types::StoreError;

/// SQLite store: one writer connection, a few readers, and a group
/// committer for revocations.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(in crate::store) writer: SqlitePool,
    pub(in crate::store) reader: SqlitePool,
    pub(in crate::store) group: GroupCommit,
    /// The database file (`None` in memory): its and its WAL's metadata
    /// tell whether anyone has committed since a poll.
    pub(in crate::store) file: Option<std::path::PathBuf>,
}

/// The shared SQL (`sql`), compiled for SQLite: it names the backend
/// through these.
pub(in crate::store) type Db = Sqlite;
pub(in crate::store) type DbRow = SqliteRow;
pub(in crate::store) type DbStore = SqliteStore;
/// SQLite has no row locks; its one writer serialises every write.
pub(in crate::store) const LOCK_TOKEN_AND_SESSION: &str = "";

impl SqliteStore {
    pub(in crate::store) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// SQLite runs one write transaction at a time (`BEGIN IMMEDIATE`), so the
/// log is in commit order already.
pub(in crate::store) async fn lock_log(
    _tx: &mut Transaction<'static, Sqlite>,
) -> Result<(), StoreError> {
    Ok(())
}

/// Appends to the log a row at a time (the caller holds the log lock):
/// SQLite runs in-process, so a statement costs no round trip.
pub(in crate::store) async fn append_log(
    tx: &mut Transaction<'static, Sqlite>,
    rs: &[Revocation],
) -> Result<(), StoreError> {
    for r in rs {
        sqlx::query(
            "INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(r.kind.as_str())
        .bind(&r.value)
        .bind(r.revoked_at)
        .bind(r.expires_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
