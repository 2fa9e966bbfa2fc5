//! JWKS, RFC 8414 metadata, RFC 7009 revocation, RFC 7662 introspection and
//! forward-auth, as a client of those standards sees them.

use jwtd::core::keys::Algorithm;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, ISSUER, TestApp, body};

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    for alg in Algorithm::ALL {
        let app = TestApp::spawn_with(|c| c.serve.algorithm = alg).await;
        let jwks = app.jwks().await;
        let keys = jwks["keys"].as_array().cloned().expect("a list");
        if alg == Algorithm::HS256 {
            assert!(keys.is_empty(), "an HMAC secret must never be published");
            continue;
        }
        // The signing key and the next one (published before it signs).
        assert_eq!(keys.len(), 2, "{alg}");
        let active = app.active_key().await.kid;
        assert!(keys.iter().any(|k| k["kid"] == active.as_str()), "{alg}");
        for k in &keys {
            assert_eq!(k["alg"], alg.as_str());
            assert_eq!(k["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(
                    k[private].is_null(),
                    "{alg}: private member {private} published"
                );
            }
        }
    }
}

#[tokio::test]
async fn metadata_names_the_endpoints() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.url
        ))
        .send()
        .await
        .expect("the request is sent");
    let m = body(r).await;
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(m["revocation_endpoint"], format!("{ISSUER}/oauth/revoke"));
    assert_eq!(
        m["introspection_endpoint"],
        format!("{ISSUER}/oauth/introspect")
    );
    assert!(m["response_types_supported"].is_array());
}

#[tokio::test]
async fn revoke_finds_the_token_whatever_the_hint() {
    let app = TestApp::spawn().await;
    app.register("rfc7009").await;
    let a = app.login("rfc7009").await;
    let b = app.login("rfc7009").await;
    // An access token sent with a refresh_token hint is still found.
    let r = app
        .post_form(
            "/oauth/revoke",
            None,
            &[("token", &a.access), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.protected(&a.access).await, StatusCode::UNAUTHORIZED);
    // Only that token: its session keeps working.
    assert_eq!(app.refresh(&a.refresh).await.0, StatusCode::OK);
    // A refresh token sent with an access_token hint revokes its session.
    let r = app
        .post_form(
            "/oauth/revoke",
            None,
            &[("token", &b.refresh), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.refresh(&b.refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&b.access).await, StatusCode::UNAUTHORIZED);
    // Revoking again, or an unknown token: still 200.
    for t in [b.refresh.as_str(), "unknown-token"] {
        assert_eq!(
            app.post_form("/oauth/revoke", None, &[("token", t)])
                .await
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn tampered_tokens_revoke_nothing_and_bad_requests_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.user("tamper").await;
    let tampered = crate::helpers::tamper(&t.access);
    let mut bad_refresh = t.refresh.clone();
    bad_refresh.replace_range(0..1, if t.refresh.starts_with('A') { "B" } else { "A" });
    for forged in [&tampered, &bad_refresh] {
        let r = app
            .post_form("/oauth/revoke", None, &[("token", forged)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    assert_eq!(app.state.enforcement.view.index().len(), 0);
    let r = app
        .post_form(
            "/oauth/revoke",
            None,
            &[("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(r).await["error"], "invalid_request");
    let r = app
        .post_json("/oauth/revoke", json!({"token": t.access}))
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_nothing_else() {
    let app = TestApp::spawn().await;
    let t = app.user("intro").await;
    let other = app.login("intro").await;
    let r = app
        .post_form(
            "/oauth/introspect",
            Some(ADMIN_TOKEN),
            &[("token", &t.access)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let i = body(r).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["username"], "intro");
    assert_eq!(i["sid"], t.session.as_str());
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["client_id"], "jwtd");
    assert_eq!(i["iss"], ISSUER);
    for field in ["sub", "aud", "exp", "iat", "jti"] {
        assert!(!i[field].is_null(), "{field}");
    }
    app.logout(&other.access, "local").await;
    let mut tampered = t.access.clone();
    tampered.insert(10, 'x');
    for dead in [
        other.access.as_str(),
        tampered.as_str(),
        "garbage",
        t.refresh.as_str(),
    ] {
        let r = app
            .post_form("/oauth/introspect", Some(ADMIN_TOKEN), &[("token", dead)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r).await, json!({"active": false}), "{dead}");
    }
    // Nothing at all: a client is wanted (RFC 6749 §2.3.1).
    let r = app
        .post_form("/oauth/introspect", None, &[("token", &t.access)])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], r#"Basic realm="jwtd""#);
    assert_eq!(body(r).await["error"], "invalid_client");
    // A bearer credential is taken as the admin token: a wrong one is 401.
    for bearer in [Some("wrong-admin-token-0000"), Some(t.access.as_str())] {
        let r = app
            .post_form("/oauth/introspect", bearer, &[("token", &t.access)])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(r).await["error"], "unauthorized");
    }
}

#[tokio::test]
async fn admin_endpoints_are_403_without_an_admin_token() {
    let app = TestApp::spawn_with(|c| c.serve.admin_token = None).await;
    let t = app.user("noadmin").await;
    let r = app
        .post_form(
            "/oauth/introspect",
            Some(ADMIN_TOKEN),
            &[("token", &t.access)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["error"], "admin_disabled");
    for path in ["/admin/keys/rotate", "/admin/users/noadmin/logout"] {
        let r = app.admin_post(path).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        app.admin_get("/revocations").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn forward_auth_passes_identity_headers() {
    let app = TestApp::spawn().await;
    let reg = app.register("proxied").await;
    let t = app.login("proxied").await;
    let r = app.get_auth("/auth/verify", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["x-auth-subject"],
        reg["user_id"].as_str().expect("user_id is a string")
    );
    assert_eq!(r.headers()["x-auth-username"], "proxied");
    assert_eq!(r.headers()["x-auth-session"], t.session.as_str());
    // Envoy appends the original path; other methods are forwarded as is.
    let r = app
        .client
        .post(format!("{}/auth/verify/app/orders/7", app.url))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-username"], "proxied");
    app.logout(&t.access, "local").await;
    let r = app.get_auth("/auth/verify", &t.access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("a visible-ASCII header")
            .contains("invalid_token")
    );
    let r = app
        .client
        .get(format!("{}/auth/verify", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
