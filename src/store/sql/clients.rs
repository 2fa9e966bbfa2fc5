//! Registered (confidential) clients: who may introspect, read the feed,
//! and log users in under their own `client_id`.

use jwtd_core::revocation::Revocation;
use sqlx::Row as _;

use super::super::backend::{DbRow, DbStore, append_log, lock_log};
use super::rows::inserted;
use super::sessions::session_revocation;
use crate::store::types::{ClientRecord, StoreError};

const CLIENT_COLS: &str = "id, name, secret_hash, introspect, feed, created_at";

fn client_from_row(r: &DbRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        introspect: r.try_get("introspect")?,
        feed: r.try_get("feed")?,
        created_at: r.try_get("created_at")?,
    })
}

impl DbStore {
    pub(in crate::store) async fn create_client(&self, c: &ClientRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, introspect, feed, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.introspect)
        .bind(c.feed)
        .bind(c.created_at)
        .execute(&self.writer)
        .await;
        inserted(r)
    }

    pub(in crate::store) async fn client(
        &self,
        id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    pub(in crate::store) async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(client_from_row).collect()
    }

    pub(in crate::store) async fn delete_client(
        &self,
        id: &str,
        now: i64,
        leeway: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let mut tx = self.begin().await?;
        lock_log(&mut tx).await?;
        let deleted = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        // Its sessions could never be refreshed again; their access tokens
        // end now too, as a deleted user's do.
        let rows = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL
             RETURNING id, access_expires_at",
        )
        .bind(now)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut revoked = Vec::with_capacity(rows.len());
        for row in &rows {
            revoked.push(session_revocation(
                row.try_get("id")?,
                row.try_get("access_expires_at")?,
                now,
                leeway,
            ));
        }
        append_log(&mut tx, &revoked).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }
}
