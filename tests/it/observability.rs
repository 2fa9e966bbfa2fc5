//! `/metrics` is valid Prometheus text and its counters move; logs never
//! contain a secret.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, Binary, PASSWORD, TestApp, post_value};

/// Parses Prometheus text format strictly enough to catch malformed output:
/// every sample line is `name{labels} value` with a float value, and every
/// metric family is announced by `# TYPE` before its samples.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().expect("another item").to_owned();
            let kind = parts.next().expect("another item");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().expect("another item");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line:?}"
            );
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its # TYPE: {line:?}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let r = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
    parse_prometheus(&r.text().await.expect("a text body"))
}

#[tokio::test]
async fn metrics_parse_and_counters_move() {
    let app = TestApp::spawn().await;
    let t = app.user("metered").await;
    let before = scrape(&app).await;
    let get = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let ok = r#"jwtd_http_requests_total{route="/protected",method="GET",status="200"}"#;
    let verified = r#"jwtd_verify_total{outcome="ok"}"#;
    let revoked_session = r#"jwtd_revocations_total{kind="session"}"#;
    let rejected = r#"jwtd_verify_total{outcome="revoked_session"}"#;

    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    // A method a client invented is counted as `other`: clients must not be
    // able to grow the label set.
    let brew = reqwest::Method::from_bytes(b"BREW").expect("from_bytes succeeds");
    let r = app
        .client
        .request(brew, format!("{}/coffee-pot-1", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.logout(&t.access, "local").await;
    assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);

    let after = scrape(&app).await;
    assert!(get(&after, ok) >= get(&before, ok) + 1.0);
    assert!(get(&after, verified) >= get(&before, verified) + 1.0);
    assert!(get(&after, revoked_session) >= get(&before, revoked_session) + 1.0);
    assert!(get(&after, rejected) >= get(&before, rejected) + 1.0);
    assert!(get(&after, r#"jwtd_revocation_entries{kind="session"}"#) >= 1.0);
    // The token was verified once, then answered from the cache on the
    // second protected request (logout verifies in full: it accepts expired
    // tokens); the gauges are this app's.
    let hits = get(&after, "jwtd_verify_cache_hits_total");
    assert!(hits >= 1.0, "{hits}");
    assert!(get(&after, "jwtd_verify_cache_misses_total") >= 1.0);
    assert!(get(&after, "jwtd_verify_cache_entries") >= 1.0);
    assert!(get(&after, "jwtd_verify_cache_capacity") >= 200_000.0);
    let other = r#"jwtd_http_requests_total{route="unmatched",method="other",status="404"}"#;
    assert!(get(&after, other) >= get(&before, other) + 1.0);
    assert!(
        !after
            .keys()
            .any(|k| k.contains("BREW") || k.contains("coffee"))
    );
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("jwtd_http_request_duration_seconds_bucket"))
    );
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("jwtd_store_duration_seconds_bucket{op=\"revoke_sessions\""))
    );
    app.purge().await;
    let purged = scrape(&app).await;
    assert!(get(&purged, "jwtd_purge_runs_total") >= get(&after, "jwtd_purge_runs_total") + 1.0);
}

#[tokio::test]
async fn logs_never_contain_secrets() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().display().to_string();
    let args = [
        "--log-format",
        "json",
        "--admin-token",
        ADMIN_TOKEN,
        "--argon2-memory-kib",
        "1024",
        "--data-dir",
        &data,
    ];
    let mut server = Binary::start(&args, &[("RUST_LOG", "trace")]).await;
    let url = server.url.clone();
    let c = reqwest::Client::new();
    let creds = json!({"username": "logged", "password": PASSWORD});
    let wrong = json!({"username": "logged", "password": "wrong-password-123"});
    let _ = c.post(format!("{url}/register")).json(&creds).send().await;
    let _ = c.post(format!("{url}/login")).json(&wrong).send().await;
    let b = post_value(&c, &format!("{url}/login"), &creds).await;
    let access = b["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned();
    let refresh = b["refresh_token"]
        .as_str()
        .expect("refresh_token is a string")
        .to_owned();
    let r = post_value(
        &c,
        &format!("{url}/token/refresh"),
        &json!({"refresh_token": refresh}),
    )
    .await;
    let refresh2 = r["refresh_token"]
        .as_str()
        .expect("refresh_token is a string")
        .to_owned();
    let forged = crate::helpers::tamper(&access);
    for t in [&access, &forged] {
        let _ = c
            .get(format!("{url}/protected"))
            .bearer_auth(t)
            .send()
            .await;
    }
    let _ = c
        .post(format!("{url}/oauth/introspect"))
        .bearer_auth(ADMIN_TOKEN)
        .form(&[("token", &access)])
        .send()
        .await;
    let _ = c
        .post(format!("{url}/oauth/introspect"))
        .bearer_auth("not-the-admin-token")
        .form(&[("token", &access)])
        .send()
        .await;
    let _ = c
        .post(format!("{url}/logout"))
        .json(&json!({"token": access}))
        .send()
        .await;
    let _ = c
        .post(format!("{url}/token/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await;
    let _ = server.child.start_kill();
    let logs = server.all_logs().await;
    assert!(logs.lines().count() > 5, "expected logs, got: {logs}");
    for line in logs.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    let signature = access.rsplit('.').next().expect("another item").to_owned();
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", "wrong-password-123"),
        ("access token signature", signature.as_str()),
        ("forged token", forged.as_str()),
        ("refresh token", refresh.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("admin token", ADMIN_TOKEN),
    ] {
        assert!(!secret.is_empty());
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}

#[tokio::test]
async fn every_metric_has_help_and_refresh_token_revocations_are_not_malformed_tokens() {
    let app = TestApp::spawn().await;
    let t = app.user("helped").await;
    let malformed = r#"jwtd_verify_total{outcome="malformed"}"#;
    let before = scrape(&app).await;
    // A refresh token handed to /oauth/revoke is not an access token gone
    // bad: it must not feed an alert on malformed tokens.
    for _ in 0..20 {
        let r = app
            .post_form("/oauth/revoke", None, &[("token", &t.refresh)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
    let after = scrape(&app).await;
    let moved = after.get(malformed).copied().unwrap_or(0.0)
        - before.get(malformed).copied().unwrap_or(0.0);
    // Other tests of this process may reject a malformed token meanwhile,
    // but not twenty.
    assert!(
        moved < 20.0,
        "{moved} refresh-token revocations counted as malformed"
    );
    // Metrics are shown once recorded: record a token check here (the
    // session, and so its access token, is revoked) rather than rely on
    // other tests of this process having done so.
    assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("the request is sent")
        .text()
        .await
        .expect("a text body");
    for name in [
        "jwtd_http_requests_total",
        "jwtd_http_request_duration_seconds",
        "jwtd_verify_total",
        "jwtd_revocation_entries",
        "jwtd_verify_cache_hits_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP line for {name}"
        );
    }
}
