//! Users and the login-attempt counter that guards their passwords.

use jwtd_core::revocation::Revocation;

use super::super::backend::{DbStore, lock_log};
use super::rows::{inserted, user_from_row};
use super::sessions::revoke_sessions_in;
use crate::store::types::{SessionRevocation, StoreError, UserRecord};

impl DbStore {
    pub(in crate::store) async fn create_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.created_at)
        .execute(&self.writer)
        .await;
        inserted(r)
    }

    pub(in crate::store) async fn user_by_id(
        &self,
        id: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, username, password_hash, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub(in crate::store) async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, username, password_hash, created_at FROM users ORDER BY username",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub(in crate::store) async fn set_password(
        &self,
        user_id: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn delete_user(
        &self,
        username: &str,
        now: i64,
        expires_at: i64,
        leeway: i64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let mut tx = self.begin().await?;
        lock_log(&mut tx).await?;
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        // Exactly a global logout (every live session, then the user
        // cut-off, which alone would spare tokens of its own second), then
        // the rows go with the user (ON DELETE CASCADE). The revocations
        // outlive them until the last access token could expire.
        let everywhere = SessionRevocation {
            user_id: id.clone(),
            only: None,
            except: None,
            user_expires_at: Some(expires_at),
            now,
            leeway,
        };
        let revoked = revoke_sessions_in(&mut tx, &everywhere).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(revoked.revocations))
    }

    pub(in crate::store) async fn user_by_name(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub(in crate::store) async fn reserve_login_attempt(
        &self,
        username: &str,
        ip: &str,
        now: i64,
        since: i64,
        max: u32,
    ) -> Result<Result<(), i64>, StoreError> {
        // One statement, so the check and the count are one atomic step:
        // the row lock of the upsert (PostgreSQL) or the single writer
        // (SQLite) serialises concurrent attempts, on every instance. The
        // update is skipped (and no row returned) once the window is full.
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO login_failures (username, ip, failures, window_start) VALUES ($1, $2, 1, $3)
             ON CONFLICT (username, ip) DO UPDATE SET
               failures = CASE WHEN login_failures.window_start > $4
                               THEN login_failures.failures + 1 ELSE 1 END,
               window_start = CASE WHEN login_failures.window_start > $4
                                   THEN login_failures.window_start ELSE $3 END
             WHERE login_failures.window_start <= $4 OR login_failures.failures < $5
             RETURNING failures",
        )
        .bind(username)
        .bind(ip)
        .bind(now)
        .bind(since)
        .bind(i64::from(max))
        .fetch_optional(&self.writer)
        .await?;
        if counted.is_some() {
            return Ok(Ok(()));
        }
        let start: Option<i64> = sqlx::query_scalar(
            "SELECT window_start FROM login_failures WHERE username = $1 AND ip = $2",
        )
        .bind(username)
        .bind(ip)
        .fetch_optional(&self.writer)
        .await?;
        Ok(Err(start.unwrap_or(now)))
    }

    pub(in crate::store) async fn failures(
        &self,
        key: &str,
        ip: &str,
        since: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        // The reader pool: a check made on every client authentication
        // must not queue behind the writer.
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, window_start FROM login_failures WHERE username = $1 AND ip = $2",
        )
        .bind(key)
        .bind(ip)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.filter(|(_, start)| *start > since))
    }

    pub(in crate::store) async fn clear_login_failures(
        &self,
        username: &str,
        ip: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE username = $1 AND ip = $2")
            .bind(username)
            .bind(ip)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
