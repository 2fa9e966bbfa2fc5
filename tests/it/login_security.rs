//! Login hardening: identical answers for unknown users and wrong passwords,
//! and the per-(username, IP) failure limit.

use std::net::IpAddr;

use jwtd::core::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, test_config};

async fn attempt(
    app: &TestApp,
    client: &reqwest::Client,
    user: &str,
    pw: &str,
) -> (StatusCode, Option<String>, Value) {
    let r = client
        .post(format!("{}/login", app.url))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status(), retry, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.register("known").await;
    let (s1, _, b1) = attempt(&app, &app.client, "known", "wrong password").await;
    let (s2, _, b2) = attempt(&app, &app.client, "unknown", "wrong password").await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(b1["error"], "invalid_credentials");
}

#[tokio::test]
async fn repeated_failures_get_429_per_username_and_ip() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let start = jwtd::core::clock::unix_now();
    let clock = Clock::fixed(start);
    let config = test_config(dir.path());
    let app = TestApp::start(dir, config, clock.clone()).await;
    app.register("target").await;
    for _ in 0..5 {
        assert_eq!(
            attempt(&app, &app.client, "target", "nope-nope").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, retry, b) = attempt(&app, &app.client, "target", "nope-nope").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b["error"], "too_many_attempts");
    let secs: i64 = retry.and_then(|r| r.parse().ok()).unwrap_or(-1);
    assert!((1..=900).contains(&secs), "Retry-After {secs}");
    // Even the right password waits out the lock.
    assert_eq!(
        attempt(&app, &app.client, "target", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another client IP is not locked out.
    let other_ip: IpAddr = [127, 0, 0, 2].into();
    let other = reqwest::Client::builder()
        .local_address(other_ip)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        attempt(&app, &other, "target", PASSWORD).await.0,
        StatusCode::OK
    );
    // Nor is another username from the same IP (unknown users count too).
    assert_eq!(
        attempt(&app, &app.client, "someone", "x-x-x-x-x").await.0,
        StatusCode::UNAUTHORIZED
    );

    // After the window, the locked pair may try again.
    clock.set(start + 15 * 60 + 1);
    assert_eq!(
        attempt(&app, &app.client, "target", PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = TestApp::spawn().await;
    app.register("forgetful").await;
    for _ in 0..4 {
        attempt(&app, &app.client, "forgetful", "wrong-one").await;
    }
    assert_eq!(
        attempt(&app, &app.client, "forgetful", PASSWORD).await.0,
        StatusCode::OK
    );
    for _ in 0..4 {
        assert_eq!(
            attempt(&app, &app.client, "forgetful", "wrong-one").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(&app, &app.client, "forgetful", PASSWORD).await.0,
        StatusCode::OK
    );
}
