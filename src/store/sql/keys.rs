//! Signing keys: the key table, rotation and key revocation.

use jwtd_core::keys::{Algorithm, KeyMaterial};
use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;

use super::{DbStore, append_log, lock_log};
use crate::store::{StoreError, StoredKey};

impl DbStore {
    pub(in crate::store) async fn revoke_key(
        &self,
        kid: &str,
        now: i64,
        active_expires_at: i64,
    ) -> Result<Option<(Revocation, bool)>, StoreError> {
        let mut tx = self.begin().await?;
        // Log lock first (see `refresh_in`): it also serialises two
        // revocations of one key, so the second sees the first.
        lock_log(&mut tx).await?;
        let row: Option<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT verify_until, revoked_at FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((verify_until, revoked_at)) = row else {
            return Ok(None);
        };
        if let (Some(revoked_at), Some(expires_at)) = (revoked_at, verify_until) {
            // Already revoked: the same answer as the first time, and
            // nothing new in the log (no second feed event).
            let r = Revocation {
                kind: RevocationKind::Key,
                value: kid.to_owned(),
                revoked_at,
                expires_at,
            };
            return Ok(Some((r, false)));
        }
        let expires_at = verify_until.unwrap_or(active_expires_at);
        sqlx::query(
            "UPDATE signing_keys SET revoked_at = $1,
               retired_at = coalesce(retired_at, $1), verify_until = $2 WHERE kid = $3",
        )
        .bind(now)
        .bind(expires_at)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        let r = Revocation {
            kind: RevocationKind::Key,
            value: kid.to_owned(),
            revoked_at: now,
            expires_at,
        };
        append_log(&mut tx, std::slice::from_ref(&r)).await?;
        tx.commit().await?;
        Ok(Some((r, true)))
    }

    pub(in crate::store) async fn key_fingerprint(&self) -> Result<[i64; 4], StoreError> {
        let (a, b, c, d): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(max(created_at), 0), count(retired_at), count(revoked_at)
             FROM signing_keys",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok([a, b, c, d])
    }

    pub(in crate::store) async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_key, public_key, created_at, retired_at, revoked_at, verify_until
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|r| {
                let alg: String = r.try_get(1)?;
                Ok(StoredKey {
                    material: KeyMaterial {
                        kid: r.try_get(0)?,
                        alg: alg
                            .parse::<Algorithm>()
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        private: r.try_get(2)?,
                        public: r.try_get(3)?,
                    },
                    created_at: r.try_get(4)?,
                    retired_at: r.try_get(5)?,
                    revoked_at: r.try_get(6)?,
                    verify_until: r.try_get(7)?,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn rotate_key(
        &self,
        new: &KeyMaterial,
        now: i64,
        verify_until: i64,
        unless_active: bool,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Serialise with rotations on other instances: two at once would
        // each retire the key they saw active and leave two active keys.
        // With `unless_active`, only the first of several instances starting
        // together creates a key.
        lock_log(&mut tx).await?;
        if unless_active {
            let active: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM signing_keys
                 WHERE retired_at IS NULL AND revoked_at IS NULL AND alg = $1",
            )
            .bind(new.alg.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if active > 0 {
                return Ok(false);
            }
        }
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, verify_until = $2
             WHERE retired_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(verify_until)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&new.kid)
        .bind(new.alg.as_str())
        .bind(&new.private)
        .bind(&new.public)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
