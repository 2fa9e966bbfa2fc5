//! Deleting what has expired: revocations, sessions, refresh hashes,
//! login counters and retired keys.

use super::super::backend::DbStore;
use crate::store::types::{PurgeReport, StoreError};

impl DbStore {
    pub(in crate::store) async fn purge(
        &self,
        now: i64,
        leeway: i64,
        failures_since: i64,
    ) -> Result<PurgeReport, StoreError> {
        let mut tx = self.begin().await?;
        let revocations = sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // A session row is kept while its refresh token or any of its access
        // tokens could still be presented (its revocation entry is separate).
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 AND access_expires_at + $2 < $1
             OR revoked_at IS NOT NULL AND access_expires_at + $2 < $1",
        )
        .bind(now)
        .bind(leeway)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
            .bind(failures_since)
            .execute(&mut *tx)
            .await?;
        let keys = sqlx::query("DELETE FROM signing_keys WHERE verify_until < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(PurgeReport {
            revocations,
            sessions,
            refresh_tokens,
            keys,
        })
    }
}
