//! Refresh-token rotation, the reuse grace, and theft detection.

use jwtd::core::clock::Clock;
use reqwest::StatusCode;

use crate::helpers::{TestApp, body, test_config};

#[tokio::test]
async fn rotation_returns_a_new_pair_in_the_same_session() {
    let app = TestApp::spawn().await;
    let t = app.user("rot").await;
    let (status, next) = app.refresh(&t.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let next = next.unwrap_or_else(|| panic!("no tokens"));
    assert_ne!(next.refresh, t.refresh);
    assert_ne!(next.access, t.access);
    assert_eq!(next.session, t.session);
    assert_eq!(app.protected(&next.access).await, StatusCode::OK);
    // The refresh token is stored only as a hash.
    let db = std::fs::read(app.data_dir().join("jwtd.db")).expect("the file is readable");
    let wal = std::fs::read(app.data_dir().join("jwtd.db-wal")).expect("the file is readable");
    for token in [&t.refresh, &next.refresh] {
        let needle = token.as_bytes();
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "refresh token stored in clear"
            );
        }
    }
}

#[tokio::test]
async fn replay_within_grace_gets_the_same_successor() {
    let app = TestApp::spawn().await;
    let t = app.user("grace").await;
    let (_, first) = app.refresh(&t.refresh).await;
    let (status, again) = app.refresh(&t.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let (first, again) = (
        first.unwrap_or_else(|| panic!()),
        again.unwrap_or_else(|| panic!()),
    );
    assert_eq!(again.refresh, first.refresh);
    assert_ne!(again.access, first.access, "a fresh access token each time");
    assert_eq!(app.protected(&again.access).await, StatusCode::OK);
    assert_eq!(app.protected(&first.access).await, StatusCode::OK);
    // The successor still rotates normally.
    assert_eq!(app.refresh(&first.refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn reuse_after_grace_is_theft_and_kills_the_session() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let config = test_config(dir.path());
    let app = TestApp::start(dir, config, clock.clone()).await;
    let t = app.user("thief").await;
    let other = app.login("thief").await;
    let (_, next) = app.refresh(&t.refresh).await;
    let next = next.unwrap_or_else(|| panic!());
    clock.set(start + 11); // grace is 10s, counted from the first use
    let r = app
        .post_json(
            "/token/refresh",
            serde_json::json!({"refresh_token": t.refresh}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_grant");
    // The whole session is dead: the legitimate successor and its access token too.
    assert_eq!(app.refresh(&next.refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&next.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
    // Other sessions of the user are untouched.
    assert_eq!(app.protected(&other.access).await, StatusCode::OK);
}

#[tokio::test]
async fn grace_is_counted_from_first_use_and_never_extended() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let config = test_config(dir.path());
    let app = TestApp::start(dir, config, clock.clone()).await;
    let t = app.user("slow").await;
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::OK);
    clock.set(start + 6);
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::OK);
    clock.set(start + 11);
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reusing_an_older_ancestor_is_theft_even_within_grace() {
    let app = TestApp::spawn().await;
    let t0 = app.user("ancestor").await;
    let (_, t1) = app.refresh(&t0.refresh).await;
    let t1 = t1.unwrap_or_else(|| panic!());
    let (_, t2) = app.refresh(&t1.refresh).await;
    let t2 = t2.unwrap_or_else(|| panic!());
    assert_eq!(app.refresh(&t0.refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&t2.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&t2.refresh).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_and_expired_refresh_tokens_are_invalid_grant() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let mut config = test_config(dir.path());
    config.serve.refresh_ttl = std::time::Duration::from_secs(60);
    let app = TestApp::start(dir, config, clock.clone()).await;
    for bad in ["nope", &"A".repeat(43)] {
        assert_eq!(app.refresh(bad).await.0, StatusCode::UNAUTHORIZED);
    }
    let t = app.user("expiring").await;
    clock.set(start + 61);
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_slides_the_session_expiry() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let mut config = test_config(dir.path());
    config.serve.refresh_ttl = std::time::Duration::from_secs(60);
    let app = TestApp::start(dir, config, clock.clone()).await;
    let t = app.user("sliding").await;
    clock.set(start + 50);
    let (_, t2) = app.refresh(&t.refresh).await;
    clock.set(start + 100); // past the first token's expiry, within the second's
    let (status, _) = app
        .refresh(&t2.map(|t| t.refresh).expect("tokens after the refresh"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn parallel_tabs_refreshing_at_once_all_get_the_same_successor() {
    let app = TestApp::spawn().await;
    let t = app.user("tabs").await;
    // Concurrent requests land in one group commit on the embedded store.
    let answers = futures_util::future::join_all((0..8).map(|_| app.refresh(&t.refresh))).await;
    let successors: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, tokens)| {
            assert_eq!(*status, StatusCode::OK);
            tokens
                .as_ref()
                .map(|t| t.refresh.clone())
                .expect("tokens after the refresh")
        })
        .collect();
    assert_eq!(successors.len(), 1, "one successor for every tab");
    let next = successors.into_iter().next().expect("another item");
    assert_eq!(app.refresh(&next).await.0, StatusCode::OK);
}
