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
        .expect("the request is sent");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status(), retry, r.json().await.expect("a JSON body"))
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
    let dir = tempfile::tempdir().expect("a temp dir");
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
        .expect("builds");
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

/// Sends `n` wrong-password logins for `user` at once, spread over `apps`,
/// and returns how many got each status.
pub async fn burst(apps: &[&TestApp], user: &str, n: usize) -> (usize, usize) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        let (client, url, user) = (
            reqwest::Client::new(),
            format!("{}/login", app.url),
            user.to_owned(),
        );
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            client
                .post(url)
                .json(&json!({"username": user, "password": "a-wrong-guess"}))
                .send()
                .await
                .map(|r| r.status())
        });
    }
    let (mut checked, mut limited) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.ok().and_then(Result::ok) {
            Some(StatusCode::UNAUTHORIZED) => checked += 1,
            Some(StatusCode::TOO_MANY_REQUESTS) => limited += 1,
            other => panic!("unexpected answer to a login burst: {other:?}"),
        }
    }
    (checked, limited)
}

#[tokio::test]
async fn a_burst_of_guesses_gets_at_most_the_limit_of_password_checks() {
    // Enough hash slots that every request of the burst could be checked at
    // once: only the reservation can hold them back.
    let app = TestApp::spawn_with(|c| c.argon2_concurrency = 64).await;
    app.register("besieged").await;
    let (checked, limited) = burst(&[&app], "besieged", 100).await;
    assert!(checked <= 5, "{checked} passwords checked in one burst");
    assert_eq!(checked + limited, 100);
    assert_eq!(
        attempt(&app, &app.client, "besieged", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password after the burst must wait out the window"
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_does_not_free_its_hash_slot_early() {
    // One slot, and a hash that takes a good while (seconds even on a
    // fast machine: at t=6 one finished inside the client's 1 s timeout).
    let app = TestApp::spawn_with(|c| {
        c.argon2_concurrency = 1;
        c.password.memory_kib = 256 * 1024;
        c.password.iterations = 24;
    })
    .await;
    app.register("hasty").await;
    // Gives up well after the hash has started (the server starts it within
    // milliseconds) and well before it ends (seconds).
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(1000))
        .build()
        .expect("builds");
    let gave_up = impatient
        .post(format!("{}/login", app.url))
        .json(&json!({"username": "hasty", "password": PASSWORD}))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the login answered before the client gave up"
    );
    // Give the server time to notice the hang-up and drop the request.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.state.hash_slots.available_permits(),
        0,
        "the abandoned hash still runs, so its slot must still be taken"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.state.hash_slots.available_permits() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
