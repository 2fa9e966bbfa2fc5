//! The revocation log: appending in commit order, the live snapshot (whole
//! or paged) and catching up after a sequence number.

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;
use sqlx::Transaction;

use super::{Db, DbStore, append_log, lock_log, positioned_from_row, revocation_from_row};
use crate::store::{BulkSink, StoreError};

impl DbStore {
    pub(in crate::store) async fn live_revocations(
        &self,
        now: i64,
    ) -> Result<(Vec<Revocation>, i64), StoreError> {
        // Read the position first: anything logged meanwhile is read again
        // by the next poll, and inserting twice is harmless.
        let seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM revocations")
            .fetch_one(&self.reader)
            .await?;
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at, seq FROM revocations WHERE expires_at >= $1",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        let list = rows
            .iter()
            .map(revocation_from_row)
            .collect::<Result<_, _>>()?;
        Ok((list, seq))
    }

    pub(in crate::store) async fn load_live(
        &self,
        now: i64,
        sink: &mut dyn BulkSink,
    ) -> Result<(usize, i64), StoreError> {
        // One read transaction, so the rows and the position describe the
        // same snapshot.
        let mut tx = self.begin_snapshot().await?;
        let seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM revocations")
            .fetch_one(&mut *tx)
            .await?;
        let mut n = 0;
        // Token, session and user rows (nearly all of them) are aggregated
        // 4096 to a chunk inside the database: a million rows one by one
        // through the driver take seconds, 250 chunks do not. Chunks are
        // pages in `seq` order (keyset pagination), so the database walks
        // its primary key: grouping by an expression of `seq` instead made
        // SQLite sort every live row first (a third of startup). Token and
        // session values are base64url ids and user ids are UUIDs, none of
        // which contain the separators; a user id that does (made outside
        // jwtd) is read row by row below.
        let mut after = 0i64;
        loop {
            let row = sqlx::query(
                "SELECT max(seq),
                        string_agg(CASE WHEN kind = 'token' THEN value || ':' || expires_at END, ','),
                        string_agg(CASE WHEN kind = 'session' THEN value || ':' || expires_at END, ','),
                        string_agg(CASE WHEN kind = 'user' THEN value || ':' || revoked_at || ':' || expires_at END, ',')
                 FROM (SELECT seq, kind, value, revoked_at, expires_at FROM revocations
                       WHERE seq > $1 AND expires_at >= $2
                         AND (kind IN ('token', 'session')
                              OR (kind = 'user' AND value NOT LIKE '%,%' AND value NOT LIKE '%:%'))
                       ORDER BY seq LIMIT 4096) AS page",
            )
            .bind(after)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let Some(last) = row.try_get::<Option<i64>, _>(0)? else {
                break;
            };
            after = last;
            for (kind, column) in [(RevocationKind::Token, 1), (RevocationKind::Session, 2)] {
                if let Some(chunk) = row.try_get::<Option<&str>, _>(column)? {
                    n += crate::store::parse_id_chunk(kind, chunk, sink)?;
                }
            }
            if let Some(chunk) = row.try_get::<Option<&str>, _>(3)? {
                n += crate::store::parse_user_chunk(chunk, sink)?;
            }
        }
        // Keys are few, and their values (like odd user ids) are free text:
        // row by row.
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at FROM revocations
             WHERE expires_at >= $1
               AND (kind = 'key' OR (kind = 'user' AND (value LIKE '%,%' OR value LIKE '%:%')))",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let r = revocation_from_row(row)?;
            sink.push(r.kind, &r.value, r.revoked_at, r.expires_at);
            n += 1;
        }
        tx.commit().await?;
        Ok((n, seq))
    }

    pub(in crate::store) async fn log_head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM revocations")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub(in crate::store) async fn live_page(
        &self,
        after: i64,
        upto: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Revocation)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at, seq FROM revocations
             WHERE seq > $1 AND seq <= $2 AND expires_at >= $3 ORDER BY seq LIMIT $4",
        )
        .bind(after)
        .bind(upto)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(positioned_from_row).collect()
    }

    pub(in crate::store) async fn revocations_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Revocation)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at, seq FROM revocations
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(positioned_from_row).collect()
    }
}

/// Appends revocations to the log, inside `tx` (the caller commits),
/// taking the log lock first.
pub(in crate::store) async fn insert_revocations_in(
    tx: &mut Transaction<'static, Db>,
    rs: &[Revocation],
) -> Result<(), StoreError> {
    lock_log(tx).await?;
    append_log(tx, rs).await
}
