//! Signing keys: the key table, rotation and key revocation.

use jwtd_core::keys::{Algorithm, KeyMaterial};
use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;

use super::super::backend::{DbStore, append_log, lock_log};
use crate::store::types::{Promotion, StoreError, StoredKey};

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
            "SELECT kid, alg, private_key, public_key, created_at, retired_at, revoked_at, verify_until, active_at
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|r| {
                let alg: String = r.try_get("alg")?;
                Ok(StoredKey {
                    material: KeyMaterial {
                        kid: r.try_get("kid")?,
                        alg: alg
                            .parse::<Algorithm>()
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        private: r.try_get("private_key")?,
                        public: r.try_get("public_key")?,
                    },
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    verify_until: r.try_get("verify_until")?,
                    active_at: r.try_get("active_at")?,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn add_next_key(
        &self,
        new: &KeyMaterial,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Serialised with every key change on every instance (the log
        // lock), so instances starting together publish one next key.
        lock_log(&mut tx).await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM signing_keys
             WHERE alg = $1 AND active_at IS NULL AND revoked_at IS NULL",
        )
        .bind(new.alg.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if pending > 0 {
            return Ok(false);
        }
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

    pub(in crate::store) async fn promote_next_key(
        &self,
        p: &Promotion<'_>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let alg = p.successor.alg.as_str();
        let mut tx = self.begin().await?;
        lock_log(&mut tx).await?;
        if p.unless_signing {
            let signing: Option<(String, i64)> = sqlx::query_as(
                "SELECT kid, active_at FROM signing_keys
                 WHERE alg = $1 AND revoked_at IS NULL AND active_at <= $2
                   AND (retired_at IS NULL OR retired_at > $2)
                 ORDER BY active_at DESC LIMIT 1",
            )
            .bind(alg)
            .bind(p.now)
            .fetch_optional(&mut *tx)
            .await?;
            if signing.is_some() {
                return Ok(signing);
            }
        }
        let next: Option<(String, i64)> = sqlx::query_as(
            "SELECT kid, created_at FROM signing_keys
             WHERE alg = $1 AND active_at IS NULL AND revoked_at IS NULL
             ORDER BY created_at, kid LIMIT 1",
        )
        .bind(alg)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((kid, published_at)) = next else {
            return Ok(None);
        };
        // It signs once every verifier that caches the JWKS as allowed
        // has seen it (at once when that was long ago, or when asked to).
        let at = (published_at + p.delay).max(p.now);
        sqlx::query("UPDATE signing_keys SET active_at = $1 WHERE kid = $2")
            .bind(at)
            .bind(&kid)
            .execute(&mut *tx)
            .await?;
        // Whatever signs, or is due to, until then stops then; its tokens
        // verify for as long as one signed at that moment could live.
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, verify_until = $2
             WHERE active_at IS NOT NULL AND revoked_at IS NULL AND kid <> $3
               AND (retired_at IS NULL OR retired_at > $1)",
        )
        .bind(at)
        .bind(at + p.token_life)
        .bind(&kid)
        .execute(&mut *tx)
        .await?;
        // Next keys of another algorithm (the configured one changed)
        // will never sign: they leave the JWKS and are purged.
        sqlx::query(
            "UPDATE signing_keys SET active_at = $1, retired_at = $1, verify_until = $1
             WHERE active_at IS NULL AND revoked_at IS NULL AND alg <> $2",
        )
        .bind(p.now)
        .bind(alg)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&p.successor.kid)
        .bind(alg)
        .bind(&p.successor.private)
        .bind(&p.successor.public)
        .bind(p.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((kid, at)))
    }
}
