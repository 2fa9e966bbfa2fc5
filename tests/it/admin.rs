//! The admin API: force logout, key rotation and key revocation.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, body, kid_of};

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    app.jwks().await["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .expect("a JWKS with a key list")
}

#[tokio::test]
async fn admin_logout_ends_every_session_of_the_user() {
    let app = TestApp::spawn().await;
    app.register("target").await;
    let a = app.login("target").await;
    let b = app.login("target").await;
    let bystander = app.user("bystander").await;
    let r = app.admin_post("/admin/users/target/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["sessions_revoked"], 2);
    for t in [&a, &b] {
        assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&t.refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.protected(&bystander.access).await, StatusCode::OK);
    let fresh = app.login("target").await;
    assert_eq!(app.protected(&fresh.access).await, StatusCode::OK);
    let r = app.admin_post("/admin/users/nobody/logout").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .post(format!("{}/admin/users/target/logout", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.expect("a JSON body");
    assert_eq!(body["error_description"], "missing bearer token");
    // A wrong token is told apart from none (same status and code).
    let r = app
        .client
        .post(format!("{}/admin/users/target/logout", app.url))
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.expect("a JSON body");
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["error_description"], "admin token not accepted");
}

/// A staged rotation (SPEC §2): the key that will sign is in the JWKS
/// before the rotation, signs only once it has been published for the
/// JWKS max-age, and old tokens keep verifying.
#[tokio::test]
async fn rotation_publishes_the_next_key_before_it_signs() {
    let app = TestApp::spawn_with(|c| c.serve.jwks_max_age = Duration::from_secs(3)).await;
    let before = app.user("rotor").await;
    let old_kid = kid_of(&before.access);
    let published = jwks_kids(&app).await;
    assert_eq!(
        published.len(),
        2,
        "the signing key and the next one: {published:?}"
    );
    let r = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.headers()["cache-control"], "public, max-age=3");
    let rotated_at = app.clock.now();
    let r = app.admin_post("/admin/keys/rotate").await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    let new_kid = b["kid"].as_str().expect("kid is a string").to_owned();
    let active_at = b["active_at"].as_i64().expect("active_at is a number");
    assert!(
        published.contains(&new_kid) && new_kid != old_kid,
        "{new_kid} {published:?}"
    );
    assert!(
        (rotated_at..=rotated_at + 3).contains(&active_at),
        "{active_at} {rotated_at}"
    );
    let during = app.login("rotor").await;
    if app.clock.now() < active_at {
        assert_eq!(
            kid_of(&during.access),
            old_kid,
            "the old key signs until the switch"
        );
    }
    let mut after = app.login("rotor").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while kid_of(&after.access) != new_kid {
        assert!(
            std::time::Instant::now() < deadline,
            "the promoted key never signed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = app.login("rotor").await;
    }
    assert!(app.clock.now() >= active_at, "it signed before its time");
    for t in [&before, &during, &after] {
        assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    }
    let kids = jwks_kids(&app).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    assert_eq!(kids.len(), 3, "a new next key is published: {kids:?}");
}

/// An emergency rotation switches at once.
#[tokio::test]
async fn an_immediate_rotation_signs_with_the_new_key_at_once() {
    let app = TestApp::spawn().await;
    let before = app.user("urgent").await;
    let r = app.admin_post("/admin/keys/rotate?immediate=true").await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    let new_kid = b["kid"].as_str().expect("kid is a string");
    assert!(b["active_at"].as_i64().expect("a number") <= app.clock.now());
    let after = app.login("urgent").await;
    assert_eq!(kid_of(&after.access), new_kid);
    assert_ne!(kid_of(&before.access), new_kid);
    assert_eq!(app.protected(&before.access).await, StatusCode::OK);
    let r = app.admin_post("/admin/keys/rotate?immediate=maybe").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoking_the_active_key_rotates_and_kills_its_tokens() {
    let app = TestApp::spawn().await;
    let t = app.user("keyed").await;
    let kid = kid_of(&t.access);
    let r = app.admin_post(&format!("/admin/keys/{kid}/revoke")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.protected(&t.access).await, StatusCode::UNAUTHORIZED);
    assert!(
        !jwks_kids(&app).await.contains(&kid),
        "revoked key still published"
    );
    // Logins keep working, on a new key.
    let fresh = app.login("keyed").await;
    assert_ne!(kid_of(&fresh.access), kid);
    assert_eq!(app.protected(&fresh.access).await, StatusCode::OK);
    // Logging out with a token of the revoked key: 200, nothing changes.
    let (status, out) = app.logout(&t.access, "global").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["sessions_revoked"], 0);
    assert_eq!(app.protected(&fresh.access).await, StatusCode::OK);
    assert_eq!(
        app.admin_post("/admin/keys/no-such-kid/revoke")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn revoking_a_retired_key_kills_only_its_tokens() {
    let app = TestApp::spawn().await;
    let old = app.user("retired").await;
    app.admin_post("/admin/keys/rotate?immediate=true").await;
    let new = app.login("retired").await;
    let old_kid = kid_of(&old.access);
    assert_eq!(
        app.admin_post(&format!("/admin/keys/{old_kid}/revoke"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.protected(&old.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.protected(&new.access).await, StatusCode::OK);
    let kids = jwks_kids(&app).await;
    assert!(
        kids.contains(&kid_of(&new.access)) && !kids.contains(&old_kid),
        "{kids:?}"
    );
    assert_eq!(kids.len(), 2, "the signing key and the next one");
}

#[tokio::test]
async fn revoking_a_key_twice_answers_alike_and_logs_nothing_new() {
    let app = TestApp::spawn().await;
    let t = app.user("twice").await;
    let kid = kid_of(&t.access);
    let key_entries = async || {
        let list = body(app.admin_get("/revocations").await).await;
        list["items"]
            .as_array()
            .map(|items| items.iter().filter(|i| i["kind"] == "key").count())
            .unwrap_or_else(|| panic!("no items in {list}"))
    };
    let path = format!("/admin/keys/{kid}/revoke");
    let first = app.admin_post(&path).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = body(first).await;
    assert_eq!(key_entries().await, 1);
    let again = app.admin_post(&path).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body(again).await, first);
    assert_eq!(key_entries().await, 1, "a second revocation was logged");
}

#[tokio::test]
async fn a_revoked_key_never_verifies_again_whatever_sweeps_purges_and_restarts_come() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = jwtd::core::clock::unix_now();
    let clock = jwtd::core::clock::Clock::fixed(start);
    let mut config = crate::helpers::test_config(dir.path());
    config.serve.access_ttl = std::time::Duration::from_secs(2);
    config.serve.leeway = std::time::Duration::from_secs(1);
    let app = TestApp::start(dir, config, clock.clone()).await;
    let t = app.user("leaky").await;
    // The attacker's copy of the private half, taken before the revocation.
    let leaked = app.active_key().await;
    let user_id = body(app.get_auth("/me", &t.access).await).await["user_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user id"))
        .to_owned();
    let template = app.claims(&user_id);
    let forge = |now: i64| {
        let mut claims = template.clone();
        (claims.iat, claims.nbf, claims.exp) = (now, now, now + 2);
        let claims = serde_json::to_value(&claims).expect("serialises");
        crate::helpers::sign_raw(&leaked, &crate::helpers::header_for(&leaked), &claims)
    };
    assert_eq!(app.protected(&forge(start)).await, StatusCode::OK);
    let path = format!("/admin/keys/{}/revoke", leaked.kid);
    assert_eq!(app.admin_post(&path).await.status(), StatusCode::OK);
    assert_eq!(app.protected(&forge(start)).await, StatusCode::UNAUTHORIZED);

    // Long after every token the key signed has expired, the index sweep
    // runs alone (as the sweeper's first step does), then the whole purge,
    // then a key reload: a token freshly signed with the leaked key is
    // refused at each step.
    let later = start + 3600;
    clock.set(later);
    app.state.enforcement.view.index().sweep(later);
    assert_eq!(app.protected(&forge(later)).await, StatusCode::UNAUTHORIZED);
    app.purge().await;
    assert_eq!(app.protected(&forge(later)).await, StatusCode::UNAUTHORIZED);
    app.state.reload_keys().await.expect("reload_keys succeeds");
    assert_eq!(app.protected(&forge(later)).await, StatusCode::UNAUTHORIZED);
    let dir = app.stop().await;
    let config = crate::helpers::test_config(dir.path());
    let app = TestApp::start(dir, config, clock.clone()).await;
    assert_eq!(app.protected(&forge(later)).await, StatusCode::UNAUTHORIZED);
}
