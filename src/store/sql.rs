//! The SQL of the store, written once for both backends.
//!
//! Both SQLite and PostgreSQL accept the same statements here (`$n`
//! placeholders, `string_agg`, `ON CONFLICT`, `CASE` instead of the two
//! dialects' different two-argument max), so one macro generates both
//! implementations. Each backend module supplies what truly differs: how a
//! write transaction begins, how a consistent read snapshot begins, how the
//! revocation log is kept in commit order (`lock_log`), `FOR UPDATE`, and
//! its migrations.

/// Generates a store's methods. Expects, in the invoking module: the
/// struct `$store` with `writer` and `reader` pools, its `begin()` and
/// `begin_snapshot()`, a free `lock_log(tx)`, and `SESSION_COLS`.
macro_rules! sql_store {
    ($store:ident, $db:ty, $row:ty, $for_update:literal) => {
impl $store {
    pub(super) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub(super) async fn secret(&self, name: &str, init: Vec<u8>) -> Result<Vec<u8>, StoreError> {
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

    pub(super) async fn create_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.created_at)
        .execute(&self.writer)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, username, password_hash, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub(super) async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, username, password_hash, created_at FROM users ORDER BY username",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub(super) async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(super) async fn delete_user(
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

    pub(super) async fn session_by_refresh(
        &self,
        hash: &[u8],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions
             WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    pub(super) async fn user_by_name(
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

    pub(super) async fn reserve_login_attempt(
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

    pub(super) async fn clear_login_failures(
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


    pub(super) async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    pub(super) async fn live_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(session_from_row).collect()
    }


    pub(super) async fn live_revocations(
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

    pub(super) async fn load_live(
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
        // Token and session rows (nearly all of them) are aggregated 4096 to
        // a chunk inside the database: a million rows one by one through
        // the driver take seconds, 250 chunks do not. Chunks are pages in
        // `seq` order (keyset pagination), so the database walks its
        // primary key: grouping by an expression of `seq` instead made
        // SQLite sort every live row first (a third of startup). Values are
        // base64url ids, which cannot contain the separators.
        let mut after = 0i64;
        loop {
            let row = sqlx::query(
                "SELECT max(seq),
                        string_agg(CASE WHEN kind = 'token' THEN value || ':' || expires_at END, ','),
                        string_agg(CASE WHEN kind = 'session' THEN value || ':' || expires_at END, ',')
                 FROM (SELECT seq, kind, value, expires_at FROM revocations
                       WHERE seq > $1 AND expires_at >= $2 AND kind IN ('token', 'session')
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
                    n += super::parse_id_chunk(kind, chunk, sink)?;
                }
            }
        }
        // Users and keys are few, and their values are free text: row by row.
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at, expires_at FROM revocations
             WHERE expires_at >= $1 AND kind IN ('user', 'key')",
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

    pub(super) async fn log_head(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM revocations")
            .fetch_one(&self.reader)
            .await?)
    }

    pub(super) async fn live_page(
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

    pub(super) async fn revocations_since(
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

    pub(super) async fn revoke_key(
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
        insert_revocation(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(Some((r, true)))
    }

    pub(super) async fn key_fingerprint(&self) -> Result<[i64; 4], StoreError> {
        let (a, b, c, d): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(max(created_at), 0), count(retired_at), count(revoked_at)
             FROM signing_keys",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok([a, b, c, d])
    }

    pub(super) async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
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
                        alg: alg.parse::<Algorithm>()
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

    pub(super) async fn rotate_key(
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

    pub(super) async fn purge(
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


/// Creates a session and its first refresh token, inside `tx`.
async fn create_session_in(
    tx: &mut Transaction<'static, $db>,
    n: &NewSession,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_seen_at, user_agent, ip, expires_at, access_expires_at)
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
    )
    .bind(&n.id)
    .bind(&n.user_id)
    .bind(n.now)
    .bind(&n.user_agent)
    .bind(&n.ip)
    .bind(n.refresh_expires_at)
    .bind(n.access_expires_at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&n.refresh_hash)
    .bind(&n.id)
    .bind(n.now)
    .bind(n.refresh_expires_at)
    .execute(&mut **tx)
    .await?;
    if let Some((username, ip)) = &n.clears_login_attempts {
        sqlx::query("DELETE FROM login_failures WHERE username = $1 AND ip = $2")
            .bind(username)
            .bind(ip)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Rotates, replays or detects theft of a refresh token, inside `tx`; a
/// theft revokes the session in the same transaction.
///
/// Lock order (PostgreSQL): the log lock, when taken, comes before any row
/// lock, in every transaction. A rotation appends nothing, so it runs
/// without the log lock; when it finds a theft it must append, and then
/// answers `None` *before* appending: the caller rolls back and runs it
/// again with `log_locked` (theft is rare; serialising every refresh on the
/// log lock would not be).
async fn refresh_in(
    tx: &mut Transaction<'static, $db>,
    r: &RefreshRequest,
    log_locked: bool,
) -> Result<Option<RefreshOutcome>, StoreError> {
    let row = sqlx::query(
        concat!("SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE hash = $1", $for_update),
    )
    .bind(&r.hash)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Some(RefreshOutcome::Invalid));
    };
    let session_id: String = row.try_get(0)?;
    let expires_at: i64 = row.try_get(1)?;
    let used_at: Option<i64> = row.try_get(2)?;
    // The session row is locked until commit: a logout revoking it waits
    // for this rotation and then reads the `access_expires_at` it raised,
    // or this rotation waits for the logout and sees `revoked_at`.
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1{}", $for_update);
    let Some(srow) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&session_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(Some(RefreshOutcome::Invalid));
    };
    let session = session_from_row(&srow)?;
    if session.revoked_at.is_some() {
        return Ok(Some(RefreshOutcome::Invalid));
    }
    let replay = match used_at {
        None if expires_at <= r.now => return Ok(Some(RefreshOutcome::Invalid)),
        None => false,
        Some(used) => {
            // count(*) is a 64-bit integer in both dialects.
            let successor_current: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM refresh_tokens WHERE hash = $1 AND session_id = $2 AND used_at IS NULL",
            )
            .bind(&r.successor_hash)
            .bind(&session_id)
            .fetch_one(&mut **tx)
            .await?;
            if r.now - used > r.grace || successor_current == 0 {
                // Reuse of a retired token outside the grace: treat as
                // theft and end the whole session, in this transaction.
                if !log_locked {
                    return Ok(None);
                }
                let rev = revoke_session_tx(tx, &session, r.now, r.leeway).await?;
                return Ok(Some(RefreshOutcome::Theft(rev)));
            }
            true
        }
    };
    if !replay {
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2")
            .bind(r.now)
            .bind(&r.hash)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.successor_hash)
        .bind(&session_id)
        .bind(r.now)
        .bind(r.successor_expires_at)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
            .bind(r.successor_expires_at)
            .bind(&session_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $1, access_expires_at = CASE WHEN access_expires_at > $2 THEN access_expires_at ELSE $2 END WHERE id = $3",
    )
    .bind(r.now)
    .bind(r.access_expires_at)
    .bind(&session_id)
    .execute(&mut **tx)
    .await?;
    let user =
        sqlx::query("SELECT id, username, password_hash, created_at FROM users WHERE id = $1")
            .bind(&session.user_id)
            .fetch_one(&mut **tx)
            .await?;
    let user = user_from_row(&user)?;
    let session = SessionRecord {
        last_seen_at: r.now,
        expires_at: if replay {
            session.expires_at
        } else {
            r.successor_expires_at
        },
        access_expires_at: session.access_expires_at.max(r.access_expires_at),
        ..session
    };
    Ok(Some(if replay {
        RefreshOutcome::Replayed(session, user)
    } else {
        RefreshOutcome::Rotated(session, user)
    }))
}

/// Revokes the sessions `req` names, inside `tx` (the caller commits).
/// Takes the log lock first, then locks the session rows: a concurrent
/// refresh either finished raising `access_expires_at` (read here) or waits
/// and finds the session revoked.
async fn revoke_sessions_in(
    tx: &mut Transaction<'static, $db>,
    req: &SessionRevocation,
) -> Result<Revoked, StoreError> {
    lock_log(tx).await?;
    // One session goes by primary key: a user with thousands of sessions
    // must not make every local logout scan them all.
    let rows = match &req.only {
        Some(id) => {
            let sql = format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL{}",
                $for_update
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(&req.user_id)
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            let sql = format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2){}",
                $for_update
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&req.user_id)
                .bind(&req.except)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    let mut out = Revoked::default();
    for row in &rows {
        let s = session_from_row(row)?;
        if s.is_live(req.now) {
            out.live_sessions += 1;
        }
        out.revocations
            .push(revoke_session_tx(tx, &s, req.now, req.leeway).await?);
    }
    if let Some(expires_at) = req.user_expires_at {
        let r = Revocation {
            kind: RevocationKind::User,
            value: req.user_id.clone(),
            revoked_at: req.now,
            expires_at,
        };
        insert_revocation(tx, &r).await?;
        out.revocations.push(r);
    }
    Ok(out)
}

/// Appends revocations to the log, inside `tx` (the caller commits).
async fn insert_revocations_in(
    tx: &mut Transaction<'static, $db>,
    rs: &[Revocation],
) -> Result<(), StoreError> {
    for r in rs {
        insert_revocation(tx, r).await?;
    }
    Ok(())
}

async fn revoke_session_tx(
    tx: &mut Transaction<'static, $db>,
    s: &SessionRecord,
    now: i64,
    leeway: i64,
) -> Result<Revocation, StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(&s.id)
        .execute(&mut **tx)
        .await?;
    let r = Revocation {
        kind: RevocationKind::Session,
        value: s.id.clone(),
        revoked_at: now,
        expires_at: s.access_expires_at.max(now) + leeway,
    };
    insert_revocation(tx, &r).await?;
    Ok(r)
}

async fn insert_revocation(
    tx: &mut Transaction<'static, $db>,
    r: &Revocation,
) -> Result<(), StoreError> {
    // Revocation-log order must equal commit order (see `lock_log`).
    lock_log(tx).await?;
    sqlx::query(
        "INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(r.kind.as_str())
    .bind(&r.value)
    .bind(r.revoked_at)
    .bind(r.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn user_from_row(r: &$row) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}

fn session_from_row(r: &$row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        created_at: r.try_get(2)?,
        last_seen_at: r.try_get(3)?,
        user_agent: r.try_get(4)?,
        ip: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        access_expires_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
    })
}

fn parse_kind(kind: &str) -> Result<RevocationKind, StoreError> {
    kind.parse()
        .map_err(|_| StoreError::Corrupt(format!("revocation kind {kind:?}")))
}

/// A log row selected with its `seq` fifth: the revocation and its position.
fn positioned_from_row(r: &$row) -> Result<(i64, Revocation), StoreError> {
    Ok((r.try_get(4)?, revocation_from_row(r)?))
}

fn revocation_from_row(r: &$row) -> Result<Revocation, StoreError> {
    Ok(Revocation {
        kind: parse_kind(r.try_get(0)?)?,
        value: r.try_get(1)?,
        revoked_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
    })
}

    };
}

pub(crate) use sql_store;
