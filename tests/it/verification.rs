//! Every rejection of SPEC §3, each with a token that is correct except for
//! the one fault under test (signed with the server's real key where the
//! fault is not the signature itself).

use reqwest::StatusCode;
use serde_json::{Value, json};

use jwtd::core::keys::KeyMaterial;

use crate::helpers::{TestApp, body, header_for, hmac_key, sign_raw};

async fn expect_rejected(app: &TestApp, token: &str, description: &str) {
    let r = app.get_auth("/protected", token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{description}");
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("a visible-ASCII header")
        .to_owned();
    assert_eq!(
        challenge,
        format!(r#"Bearer error="invalid_token", error_description="{description}""#)
    );
    let b = body(r).await;
    assert_eq!(b["error"], "invalid_token");
    assert_eq!(b["error_description"], description);
}

fn with(claims: &Value, field: &str, v: Value) -> Value {
    let mut c = claims.clone();
    c[field] = v;
    c
}

/// Tokens with exactly one fault each, and the description jwtd gives it
/// (SPEC §3), made with `key` (the server's signing key) from `claims` (a
/// token the server would accept) at `now`. Shared with the embedded
/// verifier's tests, which must refuse them the same way.
pub fn faulty_tokens(key: &KeyMaterial, claims: &Value, now: i64) -> Vec<(String, &'static str)> {
    let kid = key.kid.clone();
    let mut out = Vec::new();
    // alg "none", unsigned.
    let none_header =
        jwtd::core::b64::encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
    let payload = jwtd::core::b64::encode(serde_json::to_vec(claims).expect("serialises"));
    out.push((format!("{none_header}.{payload}."), "algorithm not allowed"));
    // HS256 keyed with the server's public key (the classic confusion).
    let confused = hmac_key(&kid, &key.public);
    out.push((
        sign_raw(
            &confused,
            &format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#),
            claims,
        ),
        "algorithm not allowed",
    ));
    // Unknown kid.
    out.push((
        sign_raw(
            key,
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"someone-else"}"#,
            claims,
        ),
        "unknown signing key",
    ));
    // Bad signature: the claims changed after signing.
    let good = sign_raw(key, &header_for(key), claims);
    let parts: Vec<&str> = good.split('.').collect();
    let other = jwtd::core::b64::encode(
        serde_json::to_vec(&with(claims, "sub", json!("admin"))).expect("serialises"),
    );
    out.push((
        format!("{}.{other}.{}", parts[0], parts[2]),
        "invalid signature",
    ));
    // Wrong typ.
    out.push((
        sign_raw(
            key,
            &format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#),
            claims,
        ),
        "not an access token",
    ));
    let cases = [
        (
            with(claims, "iss", json!("https://evil.example")),
            "wrong issuer",
        ),
        (with(claims, "aud", json!("another-api")), "wrong audience"),
        (with(claims, "exp", json!(now - 31)), "token expired"),
        (with(claims, "nbf", json!(now + 120)), "token not yet valid"),
        (
            with(claims, "iat", json!(now + 120)),
            "token issued in the future",
        ),
        (
            with(claims, "preferred_username", json!("x".repeat(8 * 1024))),
            "token too large",
        ),
    ];
    for (c, description) in cases {
        out.push((sign_raw(key, &header_for(key), &c), description));
    }
    for t in ["abc", "a.b.c", "...."] {
        out.push((t.to_owned(), "malformed token"));
    }
    out
}

#[tokio::test]
async fn forged_and_faulty_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let key = app.active_key().await;
    let reg = app.register("victim").await;
    let sub = reg["user_id"].as_str().expect("user_id is a string");
    let claims = serde_json::to_value(app.claims(sub)).expect("serialises");
    // Control: the forging helper makes tokens the server accepts, so each
    // rejection below is due to its one fault.
    let good = sign_raw(&key, &header_for(&key), &claims);
    assert_eq!(app.protected(&good).await, StatusCode::OK);
    for (token, description) in faulty_tokens(&key, &claims, app.clock.now()) {
        expect_rejected(&app, &token, description).await;
    }
}

#[tokio::test]
async fn leeway_tolerates_small_clock_skew() {
    let app = TestApp::spawn().await;
    let key = app.active_key().await;
    let reg = app.register("skewed").await;
    let claims =
        serde_json::to_value(app.claims(reg["user_id"].as_str().expect("user_id is a string")))
            .expect("serialises");
    let now = app.clock.now();
    let t = sign_raw(
        &key,
        &header_for(&key),
        &with(
            &with(&claims, "nbf", json!(now + 10)),
            "iat",
            json!(now + 10),
        ),
    );
    assert_eq!(app.protected(&t).await, StatusCode::OK);
    let t = sign_raw(
        &key,
        &header_for(&key),
        &with(&claims, "exp", json!(now - 10)),
    );
    assert_eq!(app.protected(&t).await, StatusCode::OK);
}
