//! One store test suite, run against both backends: the embedded SQLite
//! store and cluster mode's PostgreSQL store must behave the same.

use jwtd::core::keys::{Algorithm, KeyMaterial};
use jwtd::core::revocation::{Revocation, RevocationKind};
use jwtd::store::{
    BulkSink, NewSession, Promotion, RefreshOutcome, RefreshRequest, SessionRevocation, Store,
    StoreError, UserRecord,
};

const NOW: i64 = 1_900_000_000;

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: format!("id-{name}"),
        username: name.into(),
        password_hash: "$argon2id$fake".into(),
        created_at: NOW,
    }
}

fn session(id: &str, user_id: &str, hash: &[u8]) -> NewSession {
    NewSession {
        id: id.into(),
        user_id: user_id.into(),
        now: NOW,
        user_agent: Some("ua".into()),
        ip: Some("127.0.0.1".into()),
        refresh_hash: hash.to_vec(),
        refresh_expires_at: NOW + 1000,
        access_expires_at: NOW + 900,
        clears_login_attempts: None,
        client_id: "jwtd".into(),
    }
}

/// A refresh of `hash` into `successor` at `now` (grace 10 s, leeway 30 s).
pub fn refresh(hash: &[u8], successor: &[u8], now: i64) -> RefreshRequest {
    RefreshRequest {
        hash: hash.to_vec(),
        successor_hash: successor.to_vec(),
        now,
        successor_expires_at: now + 1000,
        access_expires_at: now + 900,
        now_ms: now * 1000,
        grace_ms: 10_000,
        leeway: 30,
        client_id: "jwtd".into(),
    }
}

fn rev(kind: RevocationKind, value: &str) -> Revocation {
    Revocation {
        kind,
        value: value.into(),
        revoked_at: NOW,
        expires_at: NOW + 100,
    }
}

/// What a bulk load pushed: every (kind, value), and the user cut-offs.
#[derive(Default)]
struct Collected(Vec<(RevocationKind, String)>, Vec<(String, i64, i64)>);

#[derive(Default)]
struct Collect(std::sync::Mutex<Collected>);

impl BulkSink for Collect {
    fn push(&self, kind: RevocationKind, value: &str, revoked_at: i64, expires_at: i64) {
        let mut c = self.0.lock().expect("the lock is not poisoned");
        c.0.push((kind, value.to_owned()));
        if kind == RevocationKind::User {
            c.1.push((value.to_owned(), revoked_at, expires_at));
        }
    }
}

impl Collect {
    fn take(&self) -> Collected {
        std::mem::take(&mut *self.0.lock().expect("the lock is not poisoned"))
    }
}

/// Every store behaviour the service relies on.
async fn exercise(store: Store) {
    store.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
    // Users.
    store
        .create_user(&user("ann"))
        .await
        .expect("the user is created");
    assert!(matches!(
        store.create_user(&user("ann")).await,
        Err(StoreError::Conflict)
    ));
    store
        .create_user(&user("bob"))
        .await
        .expect("the user is created");
    assert_eq!(
        store.user_by_name("ann").await.ok().flatten().map(|u| u.id),
        Some("id-ann".into())
    );
    assert_eq!(
        store
            .user_by_id("id-bob")
            .await
            .ok()
            .flatten()
            .map(|u| u.username),
        Some("bob".into())
    );
    assert_eq!(store.users().await.map(|u| u.len()).ok(), Some(2));
    store
        .set_password("id-ann", "$argon2id$new")
        .await
        .expect("set_password succeeds");
    assert_eq!(
        store
            .user_by_name("ann")
            .await
            .ok()
            .flatten()
            .map(|u| u.password_hash),
        Some("$argon2id$new".into())
    );
    // Secrets are created once.
    let s1 = store
        .secret("k", vec![1, 2])
        .await
        .expect("the secret is stored");
    let s2 = store
        .secret("k", vec![3, 4])
        .await
        .expect("the secret is stored");
    assert_eq!((s1, s2), (vec![1, 2], vec![1, 2]));

    // Login attempts: reserved up to the limit in a window, refused past
    // it (naming the window's start), counted afresh in a new window, and
    // released by a login.
    let reserve = async |now: i64, since: i64| {
        store
            .reserve_login_attempt("ann", "ip", now, since, 3)
            .await
            .expect("reserve_login_attempt succeeds")
    };
    for _ in 0..3 {
        assert_eq!(reserve(NOW, NOW - 60).await, Ok(()));
    }
    assert_eq!(reserve(NOW + 1, NOW - 59).await, Err(NOW));
    assert_eq!(reserve(NOW + 100, NOW + 40).await, Ok(()), "a new window");
    assert_eq!(reserve(NOW + 100, NOW + 40).await, Ok(()));
    assert_eq!(reserve(NOW + 100, NOW + 40).await, Ok(()));
    assert_eq!(reserve(NOW + 100, NOW + 40).await, Err(NOW + 100));
    let mut login = session("s0", "id-bob", b"z0");
    login.clears_login_attempts = Some(("ann".into(), "ip".into()));
    store
        .create_session(&login)
        .await
        .expect("the session is created");
    assert_eq!(reserve(NOW + 101, NOW + 41).await, Ok(()), "released");

    // Sessions and refresh rotation, replay, theft.
    store
        .create_session(&session("s1", "id-ann", b"h0"))
        .await
        .expect("the session is created");
    store
        .create_session(&session("s2", "id-ann", b"x0"))
        .await
        .expect("the session is created");
    assert_eq!(
        store
            .live_sessions("id-ann", NOW)
            .await
            .map(|s| s.len())
            .ok(),
        Some(2)
    );
    assert!(matches!(
        store.refresh(&refresh(b"h0", b"h1", NOW + 1)).await,
        Ok(RefreshOutcome::Rotated(..))
    ));
    assert!(matches!(
        store.refresh(&refresh(b"h0", b"h1", NOW + 5)).await,
        Ok(RefreshOutcome::Replayed(..))
    ));
    assert!(matches!(
        store.refresh(&refresh(b"h1", b"h2", NOW + 6)).await,
        Ok(RefreshOutcome::Rotated(..))
    ));
    assert!(matches!(
        store.refresh(&refresh(b"nope", b"n1", NOW)).await,
        Ok(RefreshOutcome::Invalid)
    ));
    match store.refresh(&refresh(b"h0", b"h1", NOW + 7)).await {
        Ok(RefreshOutcome::Theft(r)) => {
            assert_eq!((r.kind, r.value.as_str()), (RevocationKind::Session, "s1"))
        }
        other => panic!("expected theft, got {other:?}"),
    }
    assert!(matches!(
        store.refresh(&refresh(b"h2", b"h3", NOW + 8)).await,
        Ok(RefreshOutcome::Invalid)
    ));
    assert_eq!(
        store
            .session_by_refresh(b"x0")
            .await
            .ok()
            .flatten()
            .map(|s| s.id),
        Some("s2".into())
    );
    assert_eq!(
        store
            .session("s1")
            .await
            .ok()
            .flatten()
            .and_then(|s| s.revoked_at),
        Some(NOW + 7)
    );

    // Revoking sessions: only, except, everywhere with a user cut-off.
    store
        .create_session(&session("s3", "id-ann", b"y0"))
        .await
        .expect("the session is created");
    let req = |only: Option<&str>, except: Option<&str>, cut: bool| SessionRevocation {
        user_id: "id-ann".into(),
        only: only.map(Into::into),
        except: except.map(Into::into),
        user_expires_at: cut.then_some(NOW + 930),
        now: NOW + 10,
        leeway: 30,
    };
    let r = store
        .revoke_sessions(&req(None, Some("s2"), false))
        .await
        .expect("the sessions are revoked");
    assert_eq!((r.live_sessions, r.revocations.len()), (1, 1));
    let r = store
        .revoke_sessions(&req(None, None, true))
        .await
        .expect("the sessions are revoked");
    assert_eq!(r.live_sessions, 1);
    // Sessions ended before (s1 earlier, s3 by the first call) come back
    // as known, not as new: in the log already, but to be enforced by
    // whoever acknowledges this.
    let mut known: Vec<_> = r
        .known
        .iter()
        .map(|k| (k.value.as_str(), k.revoked_at))
        .collect();
    known.sort_unstable();
    assert_eq!(known, vec![("s1", NOW + 7), ("s3", NOW + 10)]);
    assert!(
        r.revocations
            .iter()
            .all(|n| n.value == "s2" || n.kind == RevocationKind::User)
    );
    assert_eq!(
        r.revocations.last().map(|r| r.kind),
        Some(RevocationKind::User)
    );
    assert_eq!(
        store
            .live_sessions("id-ann", NOW + 10)
            .await
            .map(|s| s.len())
            .ok(),
        Some(0)
    );

    // The log: ordered, resumable, bulk-loadable.
    let id = jwtd::core::id::Id128::random().to_string();
    store
        .insert_revocations(&[
            rev(RevocationKind::Token, &id),
            rev(RevocationKind::Key, "k1"),
        ])
        .await
        .expect("the revocations are stored");
    let all = store
        .revocations_since(0, 100)
        .await
        .expect("the log is read");
    // theft (s1), all-but-s2 (s3), everywhere (s2 + the user), and the two.
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let tail = store
        .revocations_since(all[3].0, 2)
        .await
        .expect("the log is read");
    assert_eq!(
        tail.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![all[4].0, all[5].0]
    );
    let sink = std::sync::Arc::new(Collect::default());
    let (n, seq) = store
        .load_live(NOW, sink.clone())
        .await
        .expect("load_live succeeds");
    let sink = sink.take();
    assert_eq!((n, seq), (6, all[5].0));
    assert!(sink.0.contains(&(RevocationKind::Token, id.clone())));
    assert!(sink.0.contains(&(RevocationKind::User, "id-ann".into())));
    assert_eq!(
        store.live_revocations(NOW).await.map(|(l, _)| l.len()).ok(),
        Some(6)
    );

    // Keys: the first signs at once; a rotation promotes the published
    // next key once it has been published for `delay`; revoke.
    let key = || KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
    let (k1, k2, k4) = (key(), key(), key());
    let fp0 = store.key_fingerprint().await.expect("a fingerprint");
    assert_eq!(store.add_next_key(&k1, NOW).await.ok(), Some(true));
    assert_eq!(
        store.add_next_key(&key(), NOW).await.ok(),
        Some(false),
        "one next key per algorithm"
    );
    let promote = |successor, now, delay, unless_signing| Promotion {
        successor,
        now,
        delay,
        token_life: 930,
        unless_signing,
    };
    let first = store.promote_next_key(&promote(&k2, NOW, 0, true)).await;
    assert_eq!(first.ok().flatten(), Some((k1.kid.clone(), NOW)));
    let k3 = key();
    let again = store.promote_next_key(&promote(&k3, NOW, 0, true)).await;
    assert_eq!(
        again.ok().flatten(),
        Some((k1.kid.clone(), NOW)),
        "a key signs already: nothing changes"
    );
    assert_eq!(store.keys().await.map(|k| k.len()).ok(), Some(2));
    // Staged: k2 was published at NOW, so it signs from NOW + 60.
    let staged = store
        .promote_next_key(&promote(&k4, NOW + 10, 60, false))
        .await;
    assert_eq!(staged.ok().flatten(), Some((k2.kid.clone(), NOW + 60)));
    let keys = store.keys().await.expect("the keys are read");
    let signing = |t: i64| {
        keys.iter()
            .filter(|k| k.signs_at(t))
            .map(|k| k.material.kid.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(signing(NOW + 59), vec![k1.kid.clone()]);
    assert_eq!(signing(NOW + 60), vec![k2.kid.clone()]);
    let stored_k1 = keys
        .iter()
        .find(|k| k.material.kid == k1.kid)
        .expect("k1 is stored");
    assert_eq!(stored_k1.material, k1, "key material round-trips");
    assert_eq!(stored_k1.verify_until, Some(NOW + 990));
    assert!(keys.iter().any(|k| k.material.kid == k4.kid && k.is_next()));
    assert_ne!(store.key_fingerprint().await.expect("a fingerprint"), fp0);
    let r = store
        .revoke_key(&k1.kid, NOW + 2, NOW + 999)
        .await
        .expect("revoke_key succeeds");
    assert_eq!(
        r.map(|(r, new)| (r.kind, r.expires_at, new)),
        Some((RevocationKind::Key, NOW + 990, true))
    );
    // Revoking it again answers the first revocation and logs nothing.
    let logged = store.revocations_since(0, 1000).await.map(|l| l.len()).ok();
    let again = store
        .revoke_key(&k1.kid, NOW + 5, NOW + 999)
        .await
        .expect("revoke_key succeeds");
    assert_eq!(
        again.map(|(r, new)| (r.revoked_at, r.expires_at, new)),
        Some((NOW + 2, NOW + 990, false))
    );
    assert_eq!(
        store.revocations_since(0, 1000).await.map(|l| l.len()).ok(),
        logged
    );
    assert!(
        store
            .revoke_key("nope", NOW, NOW)
            .await
            .expect("revoke_key succeeds")
            .is_none()
    );

    // Deleting a user revokes their sessions and cuts them off.
    store
        .create_session(&session("b1", "id-bob", b"b0"))
        .await
        .expect("the session is created");
    let revs = store
        .delete_user("bob", NOW + 3, NOW + 933, 30)
        .await
        .expect("delete_user succeeds")
        .expect("the user existed");
    assert_eq!(
        revs.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![
            RevocationKind::Session,
            RevocationKind::Session,
            RevocationKind::User
        ]
    );
    assert!(store.user_by_name("bob").await.ok().flatten().is_none());
    assert!(
        store
            .delete_user("bob", NOW, NOW, 0)
            .await
            .ok()
            .flatten()
            .is_none()
    );

    // Purge: everything expired goes, nothing live does.
    let report = store
        .purge(NOW + 2000, 30, NOW + 2000)
        .await
        .expect("purge succeeds");
    assert_eq!(report.revocations, 10);
    assert!(report.sessions >= 3 && report.keys == 1);
    assert_eq!(
        store.live_revocations(0).await.map(|(l, _)| l.len()).ok(),
        Some(0)
    );
    // The signing key and the next one stay.
    assert_eq!(store.keys().await.map(|k| k.len()).ok(), Some(2));
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    exercise(Store::open(&url).await.expect("the store opens")).await;
}

#[tokio::test]
async fn postgres_store_passes_the_suite() {
    let Some(url) = crate::services::fresh_database().await else {
        return;
    };
    exercise(Store::open(&url).await.expect("the store opens")).await;
}

/// Instances starting together on an empty store race to create the first
/// keys: exactly one next key is published, and exactly one key signs.
async fn first_key_race(store: Store) {
    let attempts = (0..4).map(|_| {
        let store = store.clone();
        async move {
            let k = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
            let added = store.add_next_key(&k, NOW).await;
            let successor = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
            let first = Promotion {
                successor: &successor,
                now: NOW,
                delay: 0,
                token_life: 930,
                unless_signing: true,
            };
            (added, store.promote_next_key(&first).await)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let added = results
        .iter()
        .filter(|(a, _)| matches!(a, Ok(true)))
        .count();
    assert_eq!(added, 1, "{results:?}");
    let signing: std::collections::HashSet<_> = results
        .iter()
        .map(|(_, p)| p.as_ref().ok().cloned().flatten())
        .collect();
    assert_eq!(
        signing.len(),
        1,
        "every instance signs with the same key: {results:?}"
    );
    let keys = store.keys().await.expect("the keys are read");
    assert_eq!(keys.iter().filter(|k| k.signs_at(NOW)).count(), 1);
    assert_eq!(keys.iter().filter(|k| k.is_next()).count(), 1);
    store.close().await;
}

#[tokio::test]
async fn sqlite_first_key_is_created_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    first_key_race(Store::open(&url).await.expect("the store opens")).await;
}

#[tokio::test]
async fn postgres_first_key_is_created_once() {
    let Some(url) = crate::services::fresh_database().await else {
        return;
    };
    first_key_race(Store::open(&url).await.expect("the store opens")).await;
}

/// The startup bulk load pages through the log 4,096 rows at a time: every
/// live token, session and user entry must come back exactly once across
/// page boundaries, with expired ones (interleaved) and keys in between; a
/// user id holding the chunk separators comes back whole (read row by row).
async fn bulk_load_pages(store: Store) {
    let mut live = std::collections::HashSet::new();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        let kind = if i % 3 == 0 {
            RevocationKind::Session
        } else {
            RevocationKind::Token
        };
        let id = jwtd::core::id::Id128::random().to_string();
        let mut r = rev(kind, &id);
        if i % 7 == 0 {
            r.expires_at = NOW - 1;
        } else {
            live.insert((kind, id));
        }
        batch.push(r);
        if i % 4_000 == 0 {
            batch.push(rev(RevocationKind::User, &format!("user-{i}")));
        }
    }
    let odd = Revocation {
        revoked_at: NOW - 5,
        ..rev(RevocationKind::User, "odd,user:id")
    };
    let uuid = rev(RevocationKind::User, "0193b1c2-4d5e-7f60-8a1b-2c3d4e5f6071");
    batch.extend([odd, uuid, rev(RevocationKind::Key, "some-kid")]);
    for chunk in batch.chunks(1_000) {
        store
            .insert_revocations(chunk)
            .await
            .expect("the revocations are stored");
    }
    let sink = std::sync::Arc::new(Collect::default());
    let (n, _) = store
        .load_live(NOW, sink.clone())
        .await
        .expect("load_live succeeds");
    let sink = sink.take();
    let mut users = sink.1.clone();
    users.sort();
    let expected = |v: &str, cut| (v.to_owned(), cut, NOW + 100);
    assert_eq!(
        users,
        vec![
            expected("0193b1c2-4d5e-7f60-8a1b-2c3d4e5f6071", NOW),
            expected("odd,user:id", NOW - 5),
            expected("user-0", NOW),
            expected("user-4000", NOW),
            expected("user-8000", NOW),
        ]
    );
    let ids: Vec<_> = sink
        .0
        .into_iter()
        .filter(|(k, _)| *k == RevocationKind::Token || *k == RevocationKind::Session)
        .collect();
    assert_eq!(ids.len(), live.len(), "an entry lost or repeated");
    assert_eq!(n, live.len() + users.len() + 1);
    assert_eq!(
        ids.into_iter().collect::<std::collections::HashSet<_>>(),
        live
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_bulk_load_pages() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    bulk_load_pages(Store::open(&url).await.expect("the store opens")).await;
}

#[tokio::test]
async fn postgres_bulk_load_pages() {
    let Some(url) = crate::services::fresh_database().await else {
        return;
    };
    bulk_load_pages(Store::open(&url).await.expect("the store opens")).await;
}

/// Runs `sql` on the database at `url` outside the store, as an operator
/// (or a careless edit) would; the first column of its first row, if any.
async fn raw(url: &str, sql: &'static str) -> Option<i64> {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url)
            .await
            .expect("connect to PostgreSQL");
        let n = sqlx::query_scalar(sql)
            .fetch_optional(&pool)
            .await
            .expect("the statement runs");
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(url)
            .await
            .expect("open the SQLite file");
        let n = sqlx::query_scalar(sql)
            .fetch_optional(&pool)
            .await
            .expect("the statement runs");
        pool.close().await;
        n
    }
}

/// A migration whose text changed after it was applied stops the store
/// from opening, naming the migration; a database from a release that kept
/// no checksums gets them recorded and opens.
async fn migration_checksums(url: &str) {
    Store::open(url)
        .await
        .expect("a new database migrates")
        .close()
        .await;
    raw(url, "UPDATE schema_migrations SET checksum = NULL").await;
    Store::open(url)
        .await
        .expect("a legacy history opens")
        .close()
        .await;
    assert_eq!(
        raw(
            url,
            "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL"
        )
        .await,
        Some(0),
        "the legacy history got its checksums"
    );
    raw(
        url,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    match Store::open(url).await {
        Err(StoreError::Migration(m)) => assert!(m.contains("migration 1 was edited"), "{m}"),
        Err(e) => panic!("wrong error for an edited migration: {e}"),
        Ok(_) => panic!("an edited migration was accepted"),
    }
}

#[tokio::test]
async fn sqlite_migrations_are_checksummed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    migration_checksums(&url).await;
}

#[tokio::test]
async fn postgres_migrations_are_checksummed() {
    let Some(url) = crate::services::fresh_database().await else {
        return;
    };
    migration_checksums(&url).await;
}

/// Runs `sql` (several statements) on the database at `url`.
async fn raw_script(url: &str, sql: &'static str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url)
            .await
            .expect("connect to PostgreSQL");
        sqlx::raw_sql(sql)
            .execute(&pool)
            .await
            .expect("the script runs");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url)
            .await
            .expect("open the SQLite file");
        sqlx::raw_sql(sql)
            .execute(&pool)
            .await
            .expect("the script runs");
        pool.close().await;
    }
}

/// A database from release 1 (schema 1, a history without checksums),
/// holding `users` as `(username)` rows.
async fn release_one_database(url: &str, users: &'static str) {
    let schema = if url.starts_with("postgres") {
        include_str!("../../migrations/postgres/0001_init.sql")
    } else {
        include_str!("../../migrations/sqlite/0001_init.sql")
    };
    raw_script(url, schema).await;
    raw_script(
        url,
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 0);",
    )
    .await;
    raw_script(url, users).await;
}

/// Upgrading lowercases stored usernames (SPEC §2), and refuses, naming
/// them, when two would become one.
async fn usernames_fold_on_upgrade(url_ok: &str, url_clash: &str) {
    release_one_database(
        url_ok,
        "INSERT INTO users VALUES ('u1', 'Alice', 'h', 0), ('u2', 'bob', 'h', 0);",
    )
    .await;
    let store = Store::open(url_ok).await.expect("release 1 upgrades");
    let alice = store
        .user_by_name("ALICE")
        .await
        .expect("the store answers");
    assert_eq!(
        alice.map(|u| (u.id, u.username)),
        Some(("u1".into(), "alice".into()))
    );
    store.close().await;

    release_one_database(
        url_clash,
        "INSERT INTO users VALUES ('u1', 'Alice', 'h', 0), ('u2', 'alice', 'h', 0), ('u3', 'carol', 'h', 0);",
    )
    .await;
    match Store::open(url_clash).await {
        Err(StoreError::Migration(m)) => {
            assert!(
                m.contains("collide") && m.contains("Alice and alice"),
                "{m}"
            );
            assert!(!m.contains("carol"), "{m}");
        }
        Err(e) => panic!("wrong error for colliding usernames: {e}"),
        Ok(_) => panic!("colliding usernames were merged"),
    }
    assert_eq!(
        raw(
            url_clash,
            "SELECT count(*) FROM users WHERE username = 'Alice'"
        )
        .await,
        Some(1),
        "a refused upgrade changes nothing"
    );
}

#[tokio::test]
async fn sqlite_usernames_fold_on_upgrade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = |n: &str| format!("sqlite://{}?mode=rwc", dir.path().join(n).display());
    usernames_fold_on_upgrade(&url("ok.db"), &url("clash.db")).await;
}

#[tokio::test]
async fn postgres_usernames_fold_on_upgrade() {
    let (Some(ok), Some(clash)) = (
        crate::services::fresh_database().await,
        crate::services::fresh_database().await,
    ) else {
        return;
    };
    usernames_fold_on_upgrade(&ok, &clash).await;
}
