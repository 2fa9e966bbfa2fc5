//! `/logout`: each scope, checked on the caller's and the other sessions;
//! token in header or body; expired tokens; idempotence; bad input.

use jwtd::core::clock::Clock;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, Tokens, body, header_for, sign_raw, test_config};

async fn three_sessions(app: &TestApp, name: &str) -> [Tokens; 3] {
    app.register(name).await;
    [
        app.login(name).await,
        app.login(name).await,
        app.login(name).await,
    ]
}

#[tokio::test]
async fn local_ends_only_the_callers_session() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "local-user").await;
    let (status, out) = app.logout(&a.access, "local").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 1);
    assert_eq!(out["scope"], "local");
    assert_eq!(app.protected(&a.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&a.refresh).await.0, StatusCode::UNAUTHORIZED);
    for t in [&b, &c] {
        assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    }
    assert_eq!(app.refresh(&b.refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn others_keeps_the_caller_and_ends_the_rest() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "others-user").await;
    let (status, out) = app.logout(&b.access, "others").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 2);
    assert_eq!(app.protected(&b.access).await, StatusCode::OK);
    assert_eq!(app.refresh(&b.refresh).await.0, StatusCode::OK);
    for t in [&a, &c] {
        assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn global_ends_everything_but_a_new_login_works_at_once() {
    let app = TestApp::spawn().await;
    let sessions = three_sessions(&app, "global-user").await;
    let other_user = app.user("bystander").await;
    let (status, out) = app.logout(&sessions[0].access, "global").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 3);
    for t in &sessions {
        assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    // Same second: the fresh login must work.
    let fresh = app.login("global-user").await;
    assert_eq!(app.protected(&fresh.access).await, StatusCode::OK);
    let (status, next) = app.refresh(&fresh.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.protected(&next.map(|t| t.access).expect("tokens after the refresh"))
            .await,
        StatusCode::OK
    );
    assert_eq!(app.protected(&other_user.access).await, StatusCode::OK);
}

#[tokio::test]
async fn token_in_body_as_in_the_seed_and_scope_in_body() {
    let app = TestApp::spawn().await;
    let [a, b, _] = three_sessions(&app, "body-user").await;
    let r = app.post_json("/logout", json!({"token": a.access})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["sessions_revoked"], 1);
    assert_eq!(app.protected(&a.access).await, StatusCode::UNAUTHORIZED);
    let r = app
        .post_json("/logout", json!({"token": b.access, "scope": "global"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let out = body(r).await;
    assert_eq!(out["scope"], "global");
    assert_eq!(out["sessions_revoked"], 2);
}

#[tokio::test]
async fn already_revoked_token_answers_200_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "twice").await;
    assert_eq!(app.logout(&a.access, "local").await.0, StatusCode::OK);
    // A global logout with the dead token must not end the live sessions.
    let (status, out) = app.logout(&a.access, "global").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 0);
    for t in [&b, &c] {
        assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn expired_but_genuine_token_still_logs_out() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = test_config(dir.path());
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let app = TestApp::start(dir, config, clock.clone()).await;
    let t = app.user("lapsed").await;
    clock.set(start + 3600); // access token (15m) long expired; session alive (30d)
    assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
    let (status, out) = app.logout(&t.access, "local").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 1);
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_logout_requests() {
    let app = TestApp::spawn().await;
    let t = app.user("bad-logout").await;
    // No token at all.
    let r = app
        .client
        .post(format!("{}/logout", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "unauthorized");
    // Malformed and forged tokens: 400 invalid_token, as in the seed.
    let key = app.active_key().await;
    let mut claims = serde_json::to_value(app.claims("x")).expect("serialises");
    claims["iss"] = json!("https://other-issuer");
    let other_issuer = sign_raw(&key, &header_for(&key), &claims);
    let tampered = crate::helpers::tamper(&t.access);
    for bad in ["garbage", tampered.as_str(), other_issuer.as_str()] {
        let (status, out) = app.logout(bad, "local").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(out["error"], "invalid_token");
    }
    // Scope conflict and unknown scope.
    let r = app
        .client
        .post(format!("{}/logout?scope=local", app.url))
        .bearer_auth(&t.access)
        .json(&json!({"scope": "global"}))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(r).await["error"], "invalid_request");
    let (status, out) = app.logout(&t.access, "everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(out["error"], "invalid_request");
    // None of that logged anyone out.
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
}
