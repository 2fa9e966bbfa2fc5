//! The revocation log: appending in commit order, the live snapshot (whole
//! or paged) and catching up after a sequence number.

use std::sync::Arc;

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;
use sqlx::Transaction;

use super::super::backend::{Db, DbStore, append_log, lock_log};
use super::rows::{positioned_from_row, revocation_from_row};
use crate::store::types::{BulkSink, StoreError};

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
        sink: Arc<dyn BulkSink>,
    ) -> Result<(usize, i64), StoreError> {
        // The position first: every row at or below it is committed (one
        // writer, or the log lock), and anything logged later has a larger
        // `seq`, which the log catch-up reads (indexing twice is harmless).
        let (low, seq): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(min(seq), 1) - 1, coalesce(max(seq), 0) FROM revocations",
        )
        .fetch_one(&self.reader)
        .await?;
        // Page ranges load in parallel, each a task with a reader
        // connection of its own: the database's work and the parsing and
        // indexing (together nearly all of a start) run on as many cores as
        // there are.
        let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as i64;
        let width = ((seq - low) / parts).max(1);
        let ranges = (0..parts).map(|i| {
            let after = low + i * width;
            let upto = if i == parts - 1 {
                seq
            } else {
                (after + width).min(seq)
            };
            let (store, sink) = (self.clone(), sink.clone());
            tokio::spawn(async move { store.load_range(after, upto, now, &*sink).await })
        });
        let mut n = 0;
        for part in futures_util::future::join_all(ranges).await {
            n +=
                part.map_err(|e| StoreError::Corrupt(format!("a bulk-load task failed: {e}")))??;
        }
        // Keys are few, and their values (like odd user ids) are free text:
        // row by row.
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at FROM revocations
             WHERE expires_at >= $1 AND seq <= $2
               AND (kind = 'key' OR (kind = 'user' AND (value LIKE '%,%' OR value LIKE '%:%')))",
        )
        .bind(now)
        .bind(seq)
        .fetch_all(&self.reader)
        .await?;
        for row in &rows {
            let r = revocation_from_row(row)?;
            sink.push(r.kind, &r.value, r.revoked_at, r.expires_at);
            n += 1;
        }
        Ok((n, seq))
    }

    /// Loads the live token, session and user revocations with `after <
    /// seq <= upto`.
    ///
    /// They are aggregated 4096 to a chunk inside the database: a million
    /// rows one by one through the driver take seconds, 250 chunks do not.
    /// Chunks are pages in `seq` order (keyset pagination), so the database
    /// walks its primary key: grouping by an expression of `seq` instead
    /// made SQLite sort every live row first (a third of startup). Token
    /// and session values are base64url ids and user ids are UUIDs, none of
    /// which contain the separators; a user id that does (made outside
    /// jwtd) is read row by row by the caller.
    async fn load_range(
        &self,
        mut after: i64,
        upto: i64,
        now: i64,
        sink: &dyn BulkSink,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        loop {
            let row = sqlx::query(
                "SELECT max(seq),
                        string_agg(CASE WHEN kind = 'token' THEN value || ':' || expires_at END, ','),
                        string_agg(CASE WHEN kind = 'session' THEN value || ':' || expires_at END, ','),
                        string_agg(CASE WHEN kind = 'user' THEN value || ':' || revoked_at || ':' || expires_at END, ',')
                 FROM (SELECT seq, kind, value, revoked_at, expires_at FROM revocations
                       WHERE seq > $1 AND seq <= $2 AND expires_at >= $3
                         AND (kind IN ('token', 'session')
                              OR (kind = 'user' AND value NOT LIKE '%,%' AND value NOT LIKE '%:%'))
                       ORDER BY seq LIMIT 4096) AS page",
            )
            .bind(after)
            .bind(upto)
            .bind(now)
            .fetch_one(&self.reader)
            .await?;
            let Some(last) = row.try_get::<Option<i64>, _>(0)? else {
                return Ok(n);
            };
            after = last;
            for (kind, column) in [(RevocationKind::Token, 1), (RevocationKind::Session, 2)] {
                if let Some(chunk) = row.try_get::<Option<&str>, _>(column)? {
                    n += crate::store::types::parse_id_chunk(kind, chunk, sink)?;
                }
            }
            if let Some(chunk) = row.try_get::<Option<&str>, _>(3)? {
                n += crate::store::types::parse_user_chunk(chunk, sink)?;
            }
        }
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
