//! The command line on the data dir of a running server, as an operator
//! would use it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body};

/// Polls `/protected` until it answers 401, for at most `limit`.
async fn rejected_within(app: &TestApp, token: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if app.protected(token).await == StatusCode::UNAUTHORIZED {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn cli_revocations_are_enforced_by_the_running_server_within_a_second() {
    let app = TestApp::spawn().await;
    let u = app.user("cli-user").await;
    let s = app.login("cli-user").await;
    let t = app.login("cli-user").await;
    let bystander = app.user("cli-bystander").await;

    let out = app.cli(&["revoke", "--token", &t.access], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        rejected_within(&app, &t.access, Duration::from_secs(1)).await,
        "token revocation not seen in 1 s"
    );
    assert_eq!(app.protected(&u.access).await, StatusCode::OK);

    let out = app.cli(&["revoke", "--session", &s.session], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        rejected_within(&app, &s.access, Duration::from_secs(1)).await,
        "session revocation not seen in 1 s"
    );
    assert_eq!(app.refresh(&s.refresh).await.0, StatusCode::UNAUTHORIZED);

    let out = app.cli(&["revoke", "--user", "cli-user"], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        rejected_within(&app, &u.access, Duration::from_secs(1)).await,
        "user revocation not seen in 1 s"
    );
    assert_eq!(app.protected(&bystander.access).await, StatusCode::OK);

    for bad in [
        vec!["revoke"],
        vec!["revoke", "--user", "a", "--session", "b"],
    ] {
        assert_eq!(app.cli(&bad, None).code, 2, "{bad:?}");
    }
    let out = app.cli(&["revoke", "--user", "nobody"], None);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one clear line: {}",
        out.stderr
    );
    assert!(out.stderr.contains("nobody"));
    assert_eq!(
        app.cli(&["revoke", "--token", "forged.token.here"], None)
            .code,
        1
    );
}

#[tokio::test]
async fn user_commands_manage_accounts() {
    let app = TestApp::spawn().await;
    let out = app.cli(
        &["user", "add", "ops-made", "--password-stdin"],
        Some("a-good-password\n"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let r = app
        .post_json(
            "/login",
            json!({"username": "ops-made", "password": "a-good-password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = body(r).await;
    let access = tokens["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned();

    let out = app.cli(&["user", "list"], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("ops-made\t")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("argon2"), "hashes must not be listed");

    assert_eq!(
        app.cli(
            &["user", "add", "ops-made", "--password-stdin"],
            Some("another-pass\n")
        )
        .code,
        1
    );
    assert_eq!(
        app.cli(
            &["user", "add", "bad name", "--password-stdin"],
            Some("long-enough\n")
        )
        .code,
        1
    );
    assert_eq!(
        app.cli(
            &["user", "add", "shortpw", "--password-stdin"],
            Some("short\n")
        )
        .code,
        1
    );
    assert_eq!(app.cli(&["user", "add", "nostdin"], None).code, 2);

    // passwd: the new password works, the old does not, sessions end.
    let out = app.cli(
        &["user", "passwd", "ops-made", "--password-stdin"],
        Some("a-new-password\n"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(rejected_within(&app, &access, Duration::from_secs(1)).await);
    let old = app
        .post_json(
            "/login",
            json!({"username": "ops-made", "password": "a-good-password"}),
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app
        .post_json(
            "/login",
            json!({"username": "ops-made", "password": "a-new-password"}),
        )
        .await;
    assert_eq!(new.status(), StatusCode::OK);
    let access = body(new).await["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned();

    // delete: tokens stop working and the user is gone.
    assert_eq!(app.cli(&["user", "delete", "ops-made"], None).code, 0);
    assert!(rejected_within(&app, &access, Duration::from_secs(1)).await);
    let r = app
        .post_json(
            "/login",
            json!({"username": "ops-made", "password": "a-new-password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.cli(&["user", "delete", "ops-made"], None).code, 1);
}

#[tokio::test]
async fn inspect_reports_valid_expired_revoked_and_forged() {
    let app = TestApp::spawn().await;
    let t = app.user("inspected").await;
    let out = app.cli(&["inspect", &t.access], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("verdict: valid"), "{}", out.stdout);
    assert!(out.stdout.contains("\"preferred_username\": \"inspected\""));

    let forged = crate::helpers::tamper(&t.access);
    let out = app.cli(&["inspect", &forged], None);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("invalid signature"), "{}", out.stdout);

    app.logout(&t.access, "local").await;
    let out = app.cli(&["inspect", &t.access], None);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("revoked (session)"), "{}", out.stdout);

    assert_eq!(app.cli(&["inspect", "garbage"], None).code, 1);
    assert_eq!(app.cli(&["inspect"], None).code, 2);
}

#[tokio::test]
async fn keys_commands_rotate_and_revoke_on_a_running_server() {
    let app = TestApp::spawn().await;
    let t = app.user("keyholder").await;
    let (h, _) = jwtd::core::token::decode_unverified(&t.access).expect("a decodable JWT");
    let old_kid = h["kid"].as_str().expect("kid is a string").to_owned();

    let out = app.cli(&["keys", "rotate", "--now"], None);
    assert_eq!(out.code, 0, "{out:?}");
    let out = app.cli(&["keys", "list"], None);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&old_kid) && l.contains("\tretired\t")),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains("\tactive\t"))
            .count(),
        1
    );

    // The running server picks the new key up.
    let start = Instant::now();
    loop {
        let fresh = app.login("keyholder").await;
        let (h, _) = jwtd::core::token::decode_unverified(&fresh.access).expect("a decodable JWT");
        if h["kid"] != old_kid.as_str() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "server still signs with the old key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);

    let out = app.cli(&["keys", "revoke", &old_kid], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(rejected_within(&app, &t.access, Duration::from_secs(1)).await);
    assert_eq!(app.cli(&["keys", "revoke", "nope"], None).code, 1);
    // Ids are base64url: one may start with '-' and is still an id, not a flag.
    assert_eq!(app.cli(&["keys", "revoke", "-AbC"], None).code, 1);
    assert_eq!(app.cli(&["revoke", "--session", "-AbC"], None).code, 1);
}

#[tokio::test]
async fn purge_command_and_help() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["purge"], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("purged "));
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["user", "--help"],
        vec!["revoke", "--help"],
        vec!["keys", "--help"],
        vec!["inspect", "--help"],
        vec!["purge", "--help"],
    ] {
        let out = app.cli(&cmd, None);
        assert_eq!(out.code, 0, "{cmd:?}");
        assert!(out.stdout.contains("Usage"), "{cmd:?}");
    }
    let out = app.cli(&["frobnicate"], None);
    assert_eq!(out.code, 2);
}

#[tokio::test]
async fn cli_works_on_the_data_dir_of_a_stopped_server() {
    // Before any server ever ran: the CLI creates the store itself.
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = crate::helpers::run_cli(
        dir.path(),
        &["user", "add", "early", "--password-stdin"],
        Some("early-password\n"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let config = crate::helpers::test_config(dir.path());
    let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
    let r = app
        .post_json(
            "/login",
            json!({"username": "early", "password": "early-password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let access = body(r).await["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned();

    // Server stopped: a revocation made now is enforced at the next start.
    let dir = app.stop().await;
    let out = crate::helpers::run_cli(dir.path(), &["revoke", "--user", "early"], None);
    assert_eq!(out.code, 0, "{out:?}");
    let out = crate::helpers::run_cli(dir.path(), &["inspect", &access], None);
    assert_eq!(out.code, 1, "{out:?}");
    let config = crate::helpers::test_config(dir.path());
    let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
    assert_eq!(app.protected(&access).await, StatusCode::UNAUTHORIZED);
}
