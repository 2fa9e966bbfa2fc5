//! The seed article's flow, and the SPEC §5 error shapes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body};

#[tokio::test]
async fn seed_flow_login_protected_logout_then_rejected() {
    let app = TestApp::spawn().await;
    let reg = app.register("alice").await;
    assert_eq!(reg["username"], "alice");
    let user_id = reg["user_id"]
        .as_str()
        .expect("user_id is a string")
        .to_owned();
    assert!(!user_id.is_empty());

    let r = app
        .post_json("/login", json!({"username": "alice", "password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    let access = b["access_token"]
        .as_str()
        .expect("access_token is a string");
    assert_eq!(b["refresh_token"].as_str().map(str::len), Some(43));

    let r = app.get_auth("/protected", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let p = body(r).await;
    assert_eq!(p["message"], "Access granted");
    assert_eq!(p["sub"], user_id.as_str());
    assert_eq!(p["username"], "alice");
    assert_eq!(p["session_id"], b["session_id"]);

    let (status, out) = app.logout(access, "local").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        out,
        json!({"message": "Logged out successfully", "scope": "local", "sessions_revoked": 1})
    );

    let r = app.get_auth("/protected", access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("a visible-ASCII header")
        .to_owned();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token", error_description="#),
        "{challenge}"
    );
    assert_eq!(body(r).await["error"], "invalid_token");
}

#[tokio::test]
async fn access_token_has_the_spec_header_and_claims() {
    let app = TestApp::spawn().await;
    let t = app.user("claims").await;
    let (header, claims) =
        jwtd::core::token::decode_unverified(&t.access).expect("a decodable JWT");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    for c in [
        "iss",
        "sub",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "sid",
        "preferred_username",
    ] {
        assert!(!claims[c].is_null(), "missing {c}");
    }
    assert_eq!(claims["iss"], app.state.config.issuer.as_str());
    assert_eq!(claims["aud"], "jwtd");
    assert_eq!(claims["sid"], t.session.as_str());
    assert_eq!(claims["preferred_username"], "claims");
    let jti = jwtd::core::b64::decode(claims["jti"].as_str().expect("jti is a string"))
        .expect("decode succeeds");
    assert_eq!(jti.len(), 16, "jti must carry 128 random bits");
}

#[tokio::test]
async fn me_and_sessions_describe_the_caller() {
    let app = TestApp::spawn().await;
    let first = app.user("bob").await;
    let second = app.login("bob").await;
    let me = body(app.get_auth("/me", &first.access).await).await;
    assert_eq!(me["username"], "bob");
    assert_eq!(me["session_id"], first.session.as_str());
    let (_, claims) = jwtd::core::token::decode_unverified(&first.access).expect("a decodable JWT");
    assert_eq!(me["expires_at"], claims["exp"]);

    let r = app
        .client
        .get(format!("{}/sessions", app.url))
        .bearer_auth(&first.access)
        .header("user-agent", "ua-test")
        .send()
        .await
        .expect("the request is sent");
    let list = body(r).await;
    let sessions = list["sessions"].as_array().cloned().expect("a list");
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], first.session.as_str());
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for s in &sessions {
        assert!(s["created_at"].is_i64() && s["last_seen_at"].is_i64());
    }

    // Deleting another session of mine: 204, and its token stops working.
    let r = app
        .client
        .delete(format!("{}/sessions/{}", app.url, second.session))
        .bearer_auth(&first.access)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.protected(&second.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.protected(&first.access).await, StatusCode::OK);
    let (status, _) = app.refresh(&second.refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let list = body(app.get_auth("/sessions", &first.access).await).await;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn deleting_someone_elses_session_is_404_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice2").await;
    let mallory = app.user("mallory").await;
    for id in [alice.session.as_str(), "nonexistent"] {
        let r = app
            .client
            .delete(format!("{}/sessions/{id}", app.url))
            .bearer_auth(&mallory.access)
            .send()
            .await
            .expect("the request is sent");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(r).await["error"], "not_found");
    }
    assert_eq!(app.protected(&alice.access).await, StatusCode::OK);
}

#[tokio::test]
async fn register_validates_and_refuses_duplicates() {
    let app = TestApp::spawn().await;
    app.register("carol").await;
    let r = app
        .post_json(
            "/register",
            json!({"username": "carol", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(body(r).await["error"], "username_taken");
    let long_pw = "x".repeat(1025);
    let long_name = "a".repeat(65);
    for (u, p) in [
        ("", PASSWORD),
        (long_name.as_str(), PASSWORD),
        ("has space", PASSWORD),
        ("dave", "short"),
        ("dave", long_pw.as_str()),
    ] {
        let r = app
            .post_json("/register", json!({"username": u, "password": p}))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{u:?}");
        let b = body(r).await;
        assert_eq!(b["error"], "invalid_request");
        assert!(b["error_description"].is_string());
    }
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = TestApp::spawn_with(|c| c.serve.open_registration = false).await;
    let r = app
        .post_json("/register", json!({"username": "x", "password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["error"], "registration_disabled");
}

#[tokio::test]
async fn error_shapes_for_bad_requests() {
    let app = TestApp::spawn().await;
    let url = |p: &str| format!("{}{p}", app.url);
    // Wrong content type.
    let r = app
        .client
        .post(url("/login"))
        .body("username=a")
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body(r).await["error"], "unsupported_media_type");
    // Malformed JSON, missing field, wrong type.
    for raw in [
        "{not json",
        r#"{"username":"a"}"#,
        r#"{"username":1,"password":"x"}"#,
    ] {
        let r = app
            .client
            .post(url("/login"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("the request is sent");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(body(r).await["error"], "invalid_request");
    }
    // Over 16 KiB.
    let big = json!({"username": "a", "password": "x".repeat(17 * 1024)});
    let r = app.post_json("/register", big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(r).await["error"], "payload_too_large");
    // The form extractor (RFC 7009) stops at the same limit.
    let r = app
        .client
        .post(url("/oauth/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "x".repeat(17 * 1024)))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(r).await["error"], "payload_too_large");
    // Unknown path.
    let r = app
        .client
        .get(url("/nope"))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(r).await["error"], "not_found");
    // Known path, wrong method.
    let r = app
        .client
        .get(url("/login"))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body(r).await["error"], "method_not_allowed");
    // Health.
    let r = app
        .client
        .get(url("/healthz"))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(url("/readyz"))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_credentials_get_a_bare_challenge() {
    let app = TestApp::spawn().await;
    for path in ["/protected", "/me", "/sessions"] {
        let r = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("the request is sent");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(body(r).await["error"], "unauthorized");
    }
}

#[tokio::test]
async fn a_path_parameter_that_does_not_decode_gets_a_json_error() {
    let app = TestApp::spawn().await;
    let t = app.user("pathy").await;
    let r = app
        .client
        .delete(format!("{}/sessions/%ff", app.url))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "the SPEC's error shape, not text/plain"
    );
    assert_eq!(body(r).await["error"], "invalid_request");
    for path in ["/admin/users/%ff/logout", "/admin/keys/%ff/revoke"] {
        let r = app.admin_post(path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body(r).await["error"], "invalid_request", "{path}");
    }
}

/// Usernames are one account whatever their case (SPEC §2): stored and
/// shown lowercased, logged in under any case, and not registrable twice.
#[tokio::test]
async fn usernames_are_case_insensitive() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/register",
            json!({"username": "Alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(body(r).await["username"], "alice");
    let r = app
        .post_json(
            "/register",
            json!({"username": "ALICE", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(body(r).await["error"], "username_taken");
    let tokens = app.login("aLiCe").await;
    let me = body(app.get_auth("/me", &tokens.access).await).await;
    assert_eq!(me["username"], "alice");
    let out = app.cli(&["user", "list"], None);
    assert!(
        out.stdout.contains("alice\t") && !out.stdout.contains("Alice"),
        "{}",
        out.stdout
    );
    let r = app.admin_post("/admin/users/ALICE/logout").await;
    assert_eq!(r.status(), StatusCode::OK, "the admin API folds too");
    assert_eq!(
        app.protected(&tokens.access).await,
        StatusCode::UNAUTHORIZED
    );
}
