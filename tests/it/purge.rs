//! Storage stays bounded by live tokens: expired revocations leave both the
//! index and the store.

use std::time::{Duration, Instant};

use jwtd::core::clock::Clock;
use reqwest::StatusCode;

use crate::helpers::{TestApp, test_config};

async fn stored_revocations(app: &TestApp) -> usize {
    app.state
        .store
        .live_revocations(0)
        .await
        .map(|(l, _)| l.len())
        .unwrap_or(usize::MAX)
}

#[tokio::test]
async fn purge_drops_expired_revocations_but_not_live_ones() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let mut config = test_config(dir.path());
    config.serve.access_ttl = Duration::from_secs(60);
    config.serve.leeway = Duration::from_secs(5);
    let app = TestApp::start(dir, config, clock.clone()).await;
    app.register("many").await;
    let mut tokens = Vec::new();
    for _ in 0..40 {
        let t = app.login("many").await;
        assert_eq!(app.logout(&t.access, "local").await.0, StatusCode::OK);
        tokens.push(t);
    }
    assert_eq!(app.state.enforcement.view.index().len(), 40);
    assert_eq!(stored_revocations(&app).await, 40);

    // Not yet expired: a purge keeps everything, and tokens stay revoked.
    clock.set(start + 30);
    app.purge().await;
    assert_eq!(app.state.enforcement.view.index().len(), 40);
    assert_eq!(
        app.protected(&tokens[0].access).await,
        StatusCode::UNAUTHORIZED
    );

    // Past exp + leeway of every token they could reject: all gone.
    clock.set(start + 66);
    app.purge().await;
    assert_eq!(app.state.enforcement.view.index().len(), 0);
    assert_eq!(stored_revocations(&app).await, 0);
    // ...and the tokens they revoked are expired anyway.
    assert_eq!(
        app.protected(&tokens[0].access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn background_sweeper_purges_on_its_own() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = test_config(dir.path());
    config.serve.access_ttl = Duration::from_secs(1);
    config.serve.leeway = Duration::ZERO;
    config.serve.purge_interval = Duration::from_secs(1);
    let app = TestApp::start(dir, config, Clock::system()).await;
    app.register("short").await;
    for _ in 0..20 {
        let t = app.login("short").await;
        app.logout(&t.access, "local").await;
    }
    assert!(!app.state.enforcement.view.index().is_empty());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.state.enforcement.view.index().is_empty() || stored_revocations(&app).await > 0 {
        assert!(Instant::now() < deadline, "sweeper never purged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
