//! What the shared SQL (`sql/`) needs of this backend, under the names it
//! uses: the store struct, the database and row types, transactions, and
//! how the revocation log is kept in commit order. A module of its own, so
//! the shared SQL imports its siblings and never its parent.

use jwtd_core::revocation::Revocation;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Transaction};

use crate::store::group::GroupCommit;
use crate::store::types::StoreError;

/// Advisory lock keys (arbitrary, fixed): one for appending to the
/// revocation log, one for migrations.
pub(in crate::store) const LOG_LOCK: i64 = 0x6a77_7464_0001;
/// PostgreSQL store: one pool, used for reads and writes alike.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(in crate::store) writer: PgPool,
    pub(in crate::store) reader: PgPool,
    pub(in crate::store) group: GroupCommit,
}

/// The shared SQL (`sql`), compiled for PostgreSQL: it names the
/// backend through these.
pub(in crate::store) type Db = Postgres;
pub(in crate::store) type DbRow = PgRow;
pub(in crate::store) type DbStore = PgStore;
/// Row locks where a read decides a write (see the module comment): a
/// refresh locks its token and session rows, not the user's.
pub(in crate::store) const LOCK_TOKEN_AND_SESSION: &str = " FOR UPDATE OF t, s";

impl PgStore {
    pub(in crate::store) async fn begin(
        &self,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.writer.begin().await?)
    }
}

/// Serialises appends to the revocation log until this transaction ends,
/// so sequence order is commit order (re-entrant within a transaction).
pub(in crate::store) async fn lock_log(
    tx: &mut Transaction<'static, Postgres>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOG_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends to the log in one statement however many rows (the caller
/// holds the log lock): on a server every statement is a round trip.
/// `unnest` yields the rows in array order, so `seq` follows it.
pub(in crate::store) async fn append_log(
    tx: &mut Transaction<'static, Postgres>,
    rs: &[Revocation],
) -> Result<(), StoreError> {
    if rs.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = rs.iter().map(|r| r.kind.as_str()).collect();
    let values: Vec<&str> = rs.iter().map(|r| r.value.as_str()).collect();
    let revoked: Vec<i64> = rs.iter().map(|r| r.revoked_at).collect();
    let expires: Vec<i64> = rs.iter().map(|r| r.expires_at).collect();
    sqlx::query(
        "INSERT INTO revocations (kind, value, revoked_at, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])",
    )
    .bind(kinds)
    .bind(values)
    .bind(revoked)
    .bind(expires)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
