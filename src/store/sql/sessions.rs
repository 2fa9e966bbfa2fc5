//! Sessions and their refresh tokens: creation, rotation (with replay
//! grace and theft detection) and revocation.

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;
use sqlx::Transaction;

use super::super::backend::{Db, DbRow, DbStore, LOCK_TOKEN_AND_SESSION, append_log, lock_log};
use super::rows::{
    SESSION_COLS, SESSION_IN_JOIN, USER_IN_JOIN, session_from_row, session_named, user_named,
};
use crate::store::types::{
    NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRecord, SessionRevocation,
    StoreError, UserRecord,
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
        "INSERT INTO sessions (id, user_id, created_at, last_seen_at, user_agent, ip, expires_at, access_expires_at, client_id)
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&n.id)
    .bind(&n.user_id)
    .bind(n.now)
    .bind(&n.user_agent)
    .bind(&n.ip)
    .bind(n.refresh_expires_at)
    .bind(n.access_expires_at)
    .bind(&n.client_id)
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
    let Some((token, session, user)) = lock_refresh(tx, &r.hash).await? else {
        return Ok(Some(RefreshOutcome::Invalid));
    };
    // Before anything else, theft included: a token presented without
    // its client's credentials changes nothing.
    if session.client_id != r.client_id {
        return Ok(Some(RefreshOutcome::WrongClient));
    }
    let replay = match token.used_at {
        None if token.expires_at <= r.now => return Ok(Some(RefreshOutcome::Invalid)),
        None => false,
        Some(used)
            if r.now_ms - used <= r.grace_ms && successor_unused(tx, r, &session.id).await? =>
        {
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
    let expires_at = if replay {
        session.expires_at
    } else {
        r.successor_expires_at
    };
    touch_session(tx, r, &session.id, expires_at).await?;
    let session = SessionRecord {
        last_seen_at: r.now,
        expires_at,
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
pub(in crate::store) struct TokenRow {
    /// Its expiry.
    pub expires_at: i64,
    /// When it was rotated, if it was, in ms (whole seconds for rows
    /// rotated before schema version 3).
    pub used_at: Option<i64>,
}

/// A refresh token with its session and the session's user, read in one
/// statement (see [`REFRESH_SELECT`]).
pub(in crate::store) type RefreshRows = (TokenRow, SessionRecord, UserRecord);

/// The read a refresh starts with: the token (by hash, `$n` placeholders
/// follow), its session and the session's user, the token's hash first.
const REFRESH_SELECT: &str = "SELECT t.hash AS t_hash, t.expires_at AS t_expires_at,
        COALESCE(t.used_at_ms, t.used_at * 1000) AS t_used_at_ms,
        s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at,
        s.last_seen_at AS s_last_seen_at, s.user_agent AS s_user_agent, s.ip AS s_ip,
        s.expires_at AS s_expires_at, s.access_expires_at AS s_access_expires_at,
        s.revoked_at AS s_revoked_at, s.client_id AS s_client_id,
        u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash,
        u.created_at AS u_created_at
 FROM refresh_tokens t
 JOIN sessions s ON s.id = t.session_id
 JOIN users u ON u.id = s.user_id
 WHERE t.hash";

fn refresh_rows(row: &DbRow) -> Result<(Vec<u8>, RefreshRows), StoreError> {
    let token = TokenRow {
        expires_at: row.try_get("t_expires_at")?,
        used_at: row.try_get("t_used_at_ms")?,
    };
    let session = session_named(row, &SESSION_IN_JOIN)?;
    let user = user_named(row, &USER_IN_JOIN)?;
    Ok((row.try_get("t_hash")?, (token, session, user)))
}

/// The refresh token with `hash`, its live session and the session's
/// user, in one statement; the token and session rows are locked until
/// commit. `None` when any is missing or the session is revoked.
///
/// The session row lock orders this rotation with a logout revoking the
/// session: the logout waits for the rotation and then reads the
/// `access_expires_at` it raised, or the rotation waits and sees
/// `revoked_at`. The user row is read, not locked: a lock on it would
/// queue every login and refresh of that user behind this one.
async fn lock_refresh(
    tx: &mut Transaction<'static, Db>,
    hash: &[u8],
) -> Result<Option<RefreshRows>, StoreError> {
    let sql = format!("{REFRESH_SELECT} = $1{LOCK_TOKEN_AND_SESSION}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (_, rows) = refresh_rows(&row)?;
    Ok(rows.1.revoked_at.is_none().then_some(rows))
}

/// The refresh tokens among `hashes`, each with its session (revoked or
/// not) and user, locked like [`lock_refresh`]'s, in one statement.
#[allow(dead_code)] // SQLite's group uses it; compiled for PostgreSQL too
pub(in crate::store) async fn lock_refreshes(
    tx: &mut Transaction<'static, Db>,
    hashes: &[&[u8]],
) -> Result<Vec<(Vec<u8>, RefreshRows)>, StoreError> {
    let list: Vec<String> = (1..=hashes.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "{REFRESH_SELECT} IN ({}){LOCK_TOKEN_AND_SESSION}",
        list.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for h in hashes {
        q = q.bind(*h);
    }
    let rows = q.fetch_all(&mut **tx).await?;
    rows.iter().map(refresh_rows).collect()
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

/// Retires the presented refresh token and stores its successor.
async fn rotate(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET used_at = $1, used_at_ms = $2 WHERE hash = $3")
        .bind(r.now)
        .bind(r.now_ms)
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
    Ok(())
}

/// Records the session's activity, sets its expiry (slid by a rotation)
/// and raises its `access_expires_at` to the new access token's (never
/// lowers it: a replay may carry an older one).
async fn touch_session(
    tx: &mut Transaction<'static, Db>,
    r: &RefreshRequest,
    session_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $1, expires_at = $2,
           access_expires_at = CASE WHEN access_expires_at > $3 THEN access_expires_at ELSE $3 END
         WHERE id = $4",
    )
    .bind(r.now)
    .bind(expires_at)
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
    let out = end_sessions_in(tx, req).await?;
    append_log(tx, &out.revocations).await?;
    Ok(out)
}

/// Marks the sessions `req` names revoked and answers the revocations that
/// must go into the log, without appending them: the caller holds the log
/// lock and appends them, alone or with a whole group's.
///
/// One `UPDATE … RETURNING` marks and reads the rows: it takes each row's
/// lock, so a rotation in flight is waited for and the `access_expires_at`
/// it raised is the one returned (PostgreSQL re-reads a row it waited for).
///
/// Sessions named that were revoked before (by another process, say the
/// CLI, whose entry this instance may not have read yet) are read next,
/// while a token of theirs could still be valid, into [`Revoked::known`]:
/// acknowledging this request means enforcing them here at once, not after
/// the next poll. Read after the update, whose row locks waited for any
/// revocation in flight: the read's fresh snapshot sees it committed.
pub(in crate::store) async fn end_sessions_in(
    tx: &mut Transaction<'static, Db>,
    req: &SessionRevocation,
) -> Result<Revoked, StoreError> {
    // One session goes by primary key: a user with thousands of sessions
    // must not make every local logout scan them all.
    let scope = match &req.only {
        Some(_) => "id = $2 AND user_id = $3",
        None => "user_id = $3 AND ($2 IS NULL OR id <> $2)",
    };
    let named = req.only.as_ref().or(req.except.as_ref());
    let update = format!(
        "UPDATE sessions SET revoked_at = $1 WHERE {scope} AND revoked_at IS NULL
         RETURNING id, expires_at, access_expires_at"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(update))
        .bind(req.now)
        .bind(named)
        .bind(&req.user_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = Revoked::default();
    let mut ended = std::collections::HashSet::new();
    for row in &rows {
        let (id, expires_at, access_expires_at): (String, i64, i64) = (
            row.try_get("id")?,
            row.try_get("expires_at")?,
            row.try_get("access_expires_at")?,
        );
        if expires_at > req.now {
            out.live_sessions += 1;
        }
        ended.insert(id.clone());
        out.revocations.push(session_revocation(
            id,
            access_expires_at,
            req.now,
            req.leeway,
        ));
    }
    // A revoked session matters while its revocation does (see
    // `session_revocation`).
    let earlier = format!(
        "SELECT id, access_expires_at, revoked_at FROM sessions
         WHERE {scope} AND revoked_at IS NOT NULL
           AND (access_expires_at >= $1 OR revoked_at >= $1)"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(earlier))
        .bind(req.now - req.leeway)
        .bind(named)
        .bind(&req.user_id)
        .fetch_all(&mut **tx)
        .await?;
    for row in &rows {
        let (id, access_expires_at, revoked_at): (String, i64, i64) = (
            row.try_get("id")?,
            row.try_get("access_expires_at")?,
            row.try_get("revoked_at")?,
        );
        if !ended.contains(&id) {
            out.known.push(session_revocation(
                id,
                access_expires_at,
                revoked_at,
                req.leeway,
            ));
        }
    }
    if let Some(expires_at) = req.user_expires_at {
        out.revocations.push(Revocation {
            kind: RevocationKind::User,
            value: req.user_id.clone(),
            revoked_at: req.now,
            expires_at,
        });
    }
    Ok(out)
}

/// The log entry that ends a session: it lives as long as the session's
/// last access token could.
pub(in crate::store) fn session_revocation(
    id: String,
    access_expires_at: i64,
    now: i64,
    leeway: i64,
) -> Revocation {
    Revocation {
        kind: RevocationKind::Session,
        value: id,
        revoked_at: now,
        expires_at: access_expires_at.max(now) + leeway,
    }
}

/// Revokes one session found inside `tx` and logs it (theft; the caller
/// holds the log lock).
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
    let r = session_revocation(s.id.clone(), s.access_expires_at, now, leeway);
    append_log(tx, std::slice::from_ref(&r)).await?;
    Ok(r)
}
