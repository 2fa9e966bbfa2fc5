//! Sessions and their refresh tokens: creation, rotation (with replay
//! grace and theft detection) and revocation.

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;
use sqlx::Transaction;

use super::{
    Db, DbStore, FOR_UPDATE, SESSION_COLS, insert_revocation, lock_log, session_from_row,
    user_from_row,
};
use crate::store::{
    NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRecord, SessionRevocation,
    StoreError,
};

impl DbStore {
    pub(in crate::store) async fn session_by_refresh(
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

    pub(in crate::store) async fn session(
        &self,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    pub(in crate::store) async fn live_sessions(
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
}

/// Creates a session and its first refresh token, inside `tx`.
pub(in crate::store) async fn create_session_in(
    tx: &mut Transaction<'static, Db>,
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
pub(in crate::store) async fn refresh_in(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    log_locked: bool,
) -> Result<Option<RefreshOutcome>, StoreError> {
    let Some((token, session)) = lock_token_and_session(tx, &r.hash).await? else {
        return Ok(Some(RefreshOutcome::Invalid));
    };
    let replay = match token.used_at {
        None if token.expires_at <= r.now => return Ok(Some(RefreshOutcome::Invalid)),
        None => false,
        Some(used) if r.now - used <= r.grace && successor_unused(tx, r, &session.id).await? => {
            true
        }
        Some(_) => {
            // Reuse of a retired token outside the grace, or after its
            // successor was used: theft. End the whole session, in this
            // transaction.
            if !log_locked {
                return Ok(None);
            }
            let rev = revoke_session_tx(tx, &session, r.now, r.leeway).await?;
            return Ok(Some(RefreshOutcome::Theft(rev)));
        }
    };
    if !replay {
        rotate(tx, r, &session.id).await?;
    }
    touch_session(tx, r, &session.id).await?;
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

/// A refresh token's row, as far as a rotation needs it.
struct TokenRow {
    expires_at: i64,
    used_at: Option<i64>,
}

/// The refresh token with `hash` and its live session, both row-locked
/// until commit; `None` when either is missing or the session is revoked.
///
/// The session row lock orders this rotation with a logout revoking the
/// session: the logout waits for the rotation and then reads the
/// `access_expires_at` it raised, or the rotation waits and sees
/// `revoked_at`.
async fn lock_token_and_session(
    tx: &mut Transaction<'static, Db>,
    hash: &[u8],
) -> Result<Option<(TokenRow, SessionRecord)>, StoreError> {
    let sql = format!(
        "SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE hash = $1{FOR_UPDATE}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let session_id: String = row.try_get(0)?;
    let token = TokenRow {
        expires_at: row.try_get(1)?,
        used_at: row.try_get(2)?,
    };
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1{FOR_UPDATE}");
    let session = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&session_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| session_from_row(&row))
        .transpose()?;
    Ok(session
        .filter(|s| s.revoked_at.is_none())
        .map(|s| (token, s)))
}

/// Whether the successor `r` would get is still the session's current,
/// unused refresh token (so presenting the previous one is a replay, not a
/// theft).
async fn successor_unused(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    session_id: &str,
) -> Result<bool, StoreError> {
    // count(*) is a 64-bit integer in both dialects.
    let current: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE hash = $1 AND session_id = $2 AND used_at IS NULL",
    )
    .bind(&r.successor_hash)
    .bind(session_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(current > 0)
}

/// Retires the presented refresh token, stores its successor and slides
/// the session's expiry.
async fn rotate(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2")
        .bind(r.now)
        .bind(&r.hash)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&r.successor_hash)
    .bind(session_id)
    .bind(r.now)
    .bind(r.successor_expires_at)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
        .bind(r.successor_expires_at)
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records the session's activity and raises its `access_expires_at` to
/// the new access token's (never lowers it: a replay may carry an older
/// one).
async fn touch_session(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $1, access_expires_at = CASE WHEN access_expires_at > $2 THEN access_expires_at ELSE $2 END WHERE id = $3",
    )
    .bind(r.now)
    .bind(r.access_expires_at)
    .bind(session_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes the sessions `req` names, inside `tx` (the caller commits).
/// Takes the log lock first, then locks the session rows: a concurrent
/// refresh either finished raising `access_expires_at` (read here) or waits
/// and finds the session revoked.
pub(in crate::store) async fn revoke_sessions_in(
    tx: &mut Transaction<'static, Db>,
    req: &SessionRevocation,
) -> Result<Revoked, StoreError> {
    lock_log(tx).await?;
    // One session goes by primary key: a user with thousands of sessions
    // must not make every local logout scan them all.
    let rows = match &req.only {
        Some(id) => {
            let sql = format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL{FOR_UPDATE}"
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
                 WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2){FOR_UPDATE}"
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

pub(in crate::store) async fn revoke_session_tx(
    tx: &mut Transaction<'static, Db>,
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
