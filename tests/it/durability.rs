//! A 2xx revocation survives `kill -9`; a store that cannot commit gets 503
//! and nothing is claimed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Binary, PASSWORD, TestApp, body};

/// The real binary on `dir`. The default issuer names the listen address,
/// which changes with the port across restarts here, so it is fixed.
async fn start_on(dir: &std::path::Path) -> Binary {
    let dir = dir.display().to_string();
    let args = [
        "--data-dir",
        &dir,
        "--issuer",
        "http://jwtd.test",
        "--argon2-memory-kib",
        "1024",
        "--argon2-iterations",
        "1",
    ];
    Binary::start(&args, &[]).await
}

async fn post(
    c: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    b: Value,
) -> (StatusCode, Value) {
    let mut req = c.post(url).json(&b);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("the request is sent");
    (r.status(), r.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn acknowledged_revocations_survive_kill_9() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_on(dir.path()).await;
    let c = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);
    for user in ["dur-a", "dur-b", "dur-c"] {
        let (s, _) = post(
            &c,
            url("/register"),
            None,
            json!({"username": user, "password": PASSWORD}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut sessions = Vec::new();
    for user in ["dur-a", "dur-a", "dur-b", "dur-b", "dur-c"] {
        let (s, b) = post(
            &c,
            url("/login"),
            None,
            json!({"username": user, "password": PASSWORD}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        sessions.push(b);
    }
    let token = |i: usize| {
        sessions[i]["access_token"]
            .as_str()
            .expect("access_token is a string")
            .to_owned()
    };
    let refresh = |i: usize| {
        sessions[i]["refresh_token"]
            .as_str()
            .expect("refresh_token is a string")
            .to_owned()
    };
    // Local logout of dur-a's first session, global logout of dur-b.
    let (s, _) = post(&c, url("/logout"), Some(&token(0)), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post(&c, url("/logout?scope=global"), Some(&token(2)), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    server.kill9().await;

    let server = start_on(dir.path()).await;
    let url = |p: &str| format!("{}{p}", server.url);
    let status = |t: String| {
        let c = c.clone();
        let u = url("/protected");
        async move {
            c.get(u)
                .bearer_auth(t)
                .send()
                .await
                .map(|r| r.status())
                .unwrap_or(StatusCode::IM_A_TEAPOT)
        }
    };
    for i in [0, 2, 3] {
        assert_eq!(
            status(token(i)).await,
            StatusCode::UNAUTHORIZED,
            "session {i} revived by restart"
        );
        let (s, _) = post(
            &c,
            url("/token/refresh"),
            None,
            json!({"refresh_token": refresh(i)}),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "refresh {i} revived by restart"
        );
    }
    for i in [1, 4] {
        assert_eq!(
            status(token(i)).await,
            StatusCode::OK,
            "untouched session {i}"
        );
    }
    server.kill9().await;
}

#[tokio::test]
async fn store_that_cannot_commit_gets_503_and_nothing_is_claimed() {
    let app = TestApp::spawn().await;
    let t = app.user("unlucky").await;
    app.state.store.close().await;
    let r = app
        .client
        .post(format!("{}/logout", app.url))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["error"], "temporarily_unavailable");
    // Nothing was claimed: the token still works from the in-memory view.
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    let r = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn every_kind_of_revocation_is_reloaded_at_startup() {
    use jwtd::core::revocation::{Revocation, RevocationKind};
    let app = crate::helpers::TestApp::spawn().await;
    let a = app.user("reload-a").await;
    let b = app.user("reload-b").await;
    let keep = app.login("reload-b").await;
    let (_, claims) = jwtd::core::token::decode_unverified(&a.access).expect("a decodable JWT");
    let (_, b_claims) = jwtd::core::token::decode_unverified(&b.access).expect("a decodable JWT");
    let now = app.clock.now();
    let rev = |kind, value: &serde_json::Value| Revocation {
        kind,
        value: value.as_str().expect("a string claim").to_owned(),
        revoked_at: now,
        expires_at: now + 3600,
    };
    // Tokens issued in the same second as a cut-off are spared, so cut b off
    // one second after its tokens.
    let mut user_cut = rev(RevocationKind::User, &b_claims["sub"]);
    user_cut.revoked_at = now + 1;
    // Written straight to the store, as another process (the CLI) would.
    let written = [rev(RevocationKind::Token, &claims["jti"]), user_cut];
    app.state
        .store
        .insert_revocations(&written)
        .await
        .expect("the revocations are stored");
    let dir = app.stop().await;
    let config = crate::helpers::test_config(dir.path());
    let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
    assert_eq!(app.protected(&a.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&b.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&keep.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.enforcement.view.index().counts()[0], 1);
    assert_eq!(app.state.enforcement.view.index().counts()[2], 1);
}

#[tokio::test]
async fn concurrent_logouts_share_commits_and_each_is_durable() {
    let app = TestApp::spawn().await;
    app.register("crowd").await;
    let mut tokens = Vec::new();
    for _ in 0..48 {
        tokens.push(app.login("crowd").await);
    }
    // All at once, so the group committer batches them.
    let answers =
        futures_util::future::join_all(tokens.iter().map(|t| app.logout(&t.access, "local"))).await;
    for (status, out) in &answers {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(
            out["sessions_revoked"], 1,
            "each logout ends exactly its session"
        );
    }
    let dir = app.stop().await;
    let config = crate::helpers::test_config(dir.path());
    let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
    for t in &tokens {
        assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
    }
}
