//! A group's refreshes in a handful of statements instead of four each.
//!
//! Every statement on SQLite is a round trip to the connection's thread
//! (sqlx runs SQLite on a thread of its own); profiled, those hops and the
//! context switches they cost were most of a refresh (see
//! `docs/benchmarks.md`). So a run of refreshes in one group reads all of
//! their tokens at once, decides each in memory, and writes every plain
//! rotation with three statements whatever their number.
//!
//! Only what commutes is batched: the first refresh of each session that
//! is a plain rotation (current token, not expired). A replay, a theft, a
//! second refresh of a session already in the run or a token presented
//! twice runs afterwards on its own, in order, through the ordinary
//! `refresh_in`, so it sees the batch's writes as it would have seen an
//! earlier job's.

use std::collections::HashSet;

use sqlx::{Sqlite, Transaction};

use super::sql::{RefreshRows, lock_refreshes};
use crate::store::types::{RefreshOutcome, RefreshRequest, SessionRecord, StoreError, UserRecord};

/// Rotates what it can of `reqs` (a run of one group's refreshes); answers
/// an outcome for each, or `None` for one the caller must run alone,
/// after this and in order.
pub(super) async fn rotate_run(
    tx: &mut Transaction<'static, Sqlite>,
    reqs: &[&RefreshRequest],
) -> Result<Vec<Option<RefreshOutcome>>, StoreError> {
    let hashes: Vec<&[u8]> = reqs.iter().map(|r| r.hash.as_slice()).collect();
    let found: std::collections::HashMap<Vec<u8>, RefreshRows> =
        lock_refreshes(tx, &hashes).await?.into_iter().collect();
    let mut seen_tokens = HashSet::new();
    let mut seen_sessions = HashSet::new();
    let mut out = Vec::with_capacity(reqs.len());
    // Plain rotations: where their outcome goes, the request, and the
    // session and user it read.
    let mut rotations: Vec<(usize, &RefreshRequest, &SessionRecord, &UserRecord)> = Vec::new();
    for r in reqs {
        if !seen_tokens.insert(r.hash.as_slice()) {
            out.push(None);
            continue;
        }
        let Some((token, session, user)) = found.get(&r.hash) else {
            out.push(Some(RefreshOutcome::Invalid));
            continue;
        };
        if session.revoked_at.is_some() {
            out.push(Some(RefreshOutcome::Invalid));
            continue;
        }
        if session.client_id != r.client_id {
            out.push(Some(RefreshOutcome::WrongClient));
            continue;
        }
        if !seen_sessions.insert(session.id.as_str()) {
            out.push(None);
            continue;
        }
        match token.used_at {
            None if token.expires_at <= r.now => out.push(Some(RefreshOutcome::Invalid)),
            None => {
                // Filled in once the writes succeed.
                rotations.push((out.len(), r, session, user));
                out.push(None);
            }
            // A replay or a theft: decided alone.
            Some(_) => out.push(None),
        }
    }
    if rotations.is_empty() {
        return Ok(out);
    }
    let rows: Vec<_> = rotations.iter().map(|(_, r, s, _)| (*r, *s)).collect();
    write_rotations(tx, &rows).await?;
    for (i, r, session, user) in rotations {
        let session = SessionRecord {
            last_seen_at: r.now,
            expires_at: r.successor_expires_at,
            access_expires_at: session.access_expires_at.max(r.access_expires_at),
            ..session.clone()
        };
        out[i] = Some(RefreshOutcome::Rotated(session, user.clone()));
    }
    Ok(out)
}

/// `(?, ?, …), (?, ?, …), …`: `rows` tuples of `cols` numbered
/// placeholders.
fn values(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|i| {
            let row: Vec<String> = (1..=cols).map(|c| format!("${}", i * cols + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Retires every presented token, stores every successor and slides every
/// session: three statements for the whole run, as `rotate` and
/// `touch_session` would one by one.
async fn write_rotations(
    tx: &mut Transaction<'static, Sqlite>,
    rotations: &[(&RefreshRequest, &SessionRecord)],
) -> Result<(), StoreError> {
    let n = rotations.len();
    let sql = format!(
        "UPDATE refresh_tokens SET used_at = v.column2, used_at_ms = v.column3 FROM (VALUES {}) AS v
         WHERE refresh_tokens.hash = v.column1",
        values(n, 3)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (r, _) in rotations {
        q = q.bind(r.hash.as_slice()).bind(r.now).bind(r.now_ms);
    }
    q.execute(&mut **tx).await?;

    let sql = format!(
        "INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES {}",
        values(n, 4)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (r, s) in rotations {
        q = q
            .bind(r.successor_hash.as_slice())
            .bind(s.id.as_str())
            .bind(r.now)
            .bind(r.successor_expires_at);
    }
    q.execute(&mut **tx).await?;

    let sql = format!(
        "UPDATE sessions SET last_seen_at = v.column2, expires_at = v.column3,
           access_expires_at = max(sessions.access_expires_at, v.column4)
         FROM (VALUES {}) AS v WHERE sessions.id = v.column1",
        values(n, 4)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (r, s) in rotations {
        q = q
            .bind(s.id.as_str())
            .bind(r.now)
            .bind(r.successor_expires_at)
            .bind(r.access_expires_at);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::super::SqliteStore;
    use crate::store::group::Job;
    use crate::store::types::{
        NewSession, RefreshOutcome, RefreshRequest, SessionRevocation, StoreError, UserRecord,
    };

    const NOW: i64 = 1_900_000_000;

    fn request(hash: &[u8], successor: &[u8], now: i64) -> RefreshRequest {
        RefreshRequest {
            hash: hash.to_vec(),
            successor_hash: successor.to_vec(),
            now,
            successor_expires_at: now + 1000,
            access_expires_at: now + 300,
            now_ms: now * 1000,
            grace_ms: 10_000,
            leeway: 5,
            client_id: "jwtd".into(),
        }
    }

    async fn store_with_sessions(ids: &[&str]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.expect("the store opens");
        store
            .create_user(&UserRecord {
                id: "u".into(),
                username: "u".into(),
                password_hash: "$argon2id$fake".into(),
                created_at: NOW,
            })
            .await
            .expect("the user is created");
        for id in ids {
            store
                .create_session(&NewSession {
                    id: (*id).into(),
                    user_id: "u".into(),
                    now: NOW,
                    user_agent: None,
                    ip: None,
                    refresh_hash: format!("h-{id}").into_bytes(),
                    refresh_expires_at: NOW + if *id == "old" { 5 } else { 1000 },
                    access_expires_at: NOW + 300,
                    clears_login_attempts: None,
                    client_id: "jwtd".into(),
                })
                .await
                .expect("the session is created");
        }
        (dir, store)
    }

    /// Queues every request before the committer runs (this runtime has
    /// one thread), so they make one group; answers their outcomes.
    async fn one_group(
        store: &SqliteStore,
        reqs: Vec<RefreshRequest>,
    ) -> Vec<Result<RefreshOutcome, StoreError>> {
        let mut replies = Vec::new();
        for r in reqs {
            let (tx, rx) = oneshot::channel();
            store
                .group
                .submit(Job::Refresh(r, tx))
                .await
                .expect("submit succeeds");
            replies.push(rx);
        }
        let mut out = Vec::new();
        for rx in replies {
            out.push(rx.await.expect("the job is answered"));
        }
        out
    }

    /// How each refresh of a group ended, by name.
    fn kinds(out: &[Result<RefreshOutcome, StoreError>]) -> Vec<&'static str> {
        out.iter()
            .map(|o| match o {
                Ok(RefreshOutcome::Rotated(..)) => "rotated",
                Ok(RefreshOutcome::Replayed(..)) => "replayed",
                Ok(RefreshOutcome::Theft(_)) => "theft",
                Ok(RefreshOutcome::Invalid) => "invalid",
                Ok(RefreshOutcome::WrongClient) => "wrong client",
                Err(_) => "error",
            })
            .collect()
    }

    #[tokio::test]
    async fn a_group_of_refreshes_ends_as_one_by_one_would() {
        let (_dir, store) = store_with_sessions(&["a", "b", "gone", "old"]).await;
        store
            .revoke_sessions(&SessionRevocation {
                user_id: "u".into(),
                only: Some("gone".into()),
                except: None,
                user_expires_at: None,
                now: NOW,
                leeway: 5,
            })
            .await
            .expect("the session is revoked");
        let now = NOW + 10;
        let out = one_group(
            &store,
            vec![
                request(b"h-a", b"h-a2", now),
                request(b"h-b", b"h-b2", now),
                // The same token again in the same group: a replay of the
                // rotation just before it.
                request(b"h-a", b"h-a2", now),
                request(b"h-gone", b"h-gone2", now),
                request(b"no such token", b"x", now),
                request(b"h-old", b"h-old2", now),
            ],
        )
        .await;
        assert_eq!(
            kinds(&out),
            [
                "rotated", "rotated", "replayed", "invalid", "invalid", "invalid"
            ]
        );
        let Ok(RefreshOutcome::Rotated(s, u)) = &out[0] else {
            panic!("the first refresh did not rotate");
        };
        assert_eq!((s.id.as_str(), u.id.as_str()), ("a", "u"));
        assert_eq!((s.expires_at, s.last_seen_at), (now + 1000, now));
        // What the group wrote is what later refreshes see: the successors
        // are current, the presented tokens retired (a reuse past the
        // grace, with the successor used, is theft).
        let later = now + 100;
        let out = one_group(
            &store,
            vec![
                request(b"h-a2", b"h-a3", later),
                request(b"h-b2", b"h-b3", later),
                request(b"h-b", b"h-b2", later),
            ],
        )
        .await;
        assert_eq!(kinds(&out), ["rotated", "rotated", "theft"]);
        let b = store.session("b").await.expect("read").expect("exists");
        assert!(b.revoked_at.is_some(), "the theft did not end the session");
        let a = store.session("a").await.expect("read").expect("exists");
        assert_eq!(
            (a.expires_at, a.last_seen_at, a.access_expires_at),
            (later + 1000, later, later + 300)
        );
    }
}
