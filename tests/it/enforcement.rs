//! Every revoking endpoint enforces what it acknowledges (#21 item 1): the
//! very next request after the 2xx, on the same instance and with no pause
//! in between, is refused. One revocation path does this for all of them
//! (`revoke::Revocations`); these tests would catch an endpoint that
//! commits without going through it.

use reqwest::StatusCode;

use crate::clients::{admin_create, login_via, post_basic};
use crate::helpers::{ADMIN_TOKEN, TestApp, kid_of};

async fn refused_at_once(app: &TestApp, access: &str, what: &str) {
    assert_eq!(
        app.protected(access).await,
        StatusCode::UNAUTHORIZED,
        "{what}: the next request still passed"
    );
}

#[tokio::test]
async fn every_revoking_endpoint_is_enforced_by_the_next_request() {
    let app =
        TestApp::spawn_with(|c| c.serve.refresh_reuse_grace = std::time::Duration::ZERO).await;

    for scope in ["local", "others", "global"] {
        let name = format!("logout-{scope}");
        let t = app.user(&name).await;
        let other = app.login(&name).await;
        let (status, _) = app.logout(&t.access, scope).await;
        assert_eq!(status, StatusCode::OK);
        let victim = if scope == "others" { &other } else { &t };
        refused_at_once(&app, &victim.access, &format!("/logout?scope={scope}")).await;
    }

    let t = app.user("delete-session").await;
    let r = app
        .client
        .delete(format!("{}/sessions/{}", app.url, t.session))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused_at_once(&app, &t.access, "DELETE /sessions/{id}").await;

    let t = app.user("revoke-access").await;
    let r = app
        .post_form("/oauth/revoke", None, &[("token", &t.access)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    refused_at_once(&app, &t.access, "/oauth/revoke (access token)").await;

    let t = app.user("revoke-refresh").await;
    let r = app
        .post_form("/oauth/revoke", None, &[("token", &t.refresh)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    refused_at_once(&app, &t.access, "/oauth/revoke (refresh token)").await;

    let t = app.user("admin-logout").await;
    let r = app.admin_post("/admin/users/admin-logout/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    refused_at_once(&app, &t.access, "/admin/users/{username}/logout").await;

    let t = app.user("theft").await;
    let (status, next) = app.refresh(&t.refresh).await;
    assert_eq!(status, StatusCode::OK);
    // Past the (zero) grace, counted in milliseconds: the replay is theft.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, _) = app.refresh(&t.refresh).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a replay with no grace is theft"
    );
    let next = next.expect("rotated");
    refused_at_once(&app, &next.access, "refresh theft").await;

    let client = admin_create(&app, "doomed", false, false).await;
    app.register("client-user").await;
    let via = login_via(&app, "client-user", &client).await;
    let access = via["access_token"].as_str().expect("a token");
    let r = app
        .client
        .delete(format!("{}/admin/clients/{}", app.url, client.id))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused_at_once(&app, access, "DELETE /admin/clients/{id}").await;
    // Its credentials are gone with it.
    let r = post_basic(&app, "/oauth/revoke", &client, &[("token", access)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Last: a key revocation ends every token it signed.
    let t = app.user("key").await;
    let r = app
        .admin_post(&format!("/admin/keys/{}/revoke", kid_of(&t.access)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    refused_at_once(&app, &t.access, "/admin/keys/{kid}/revoke").await;
    let fresh = app.login("key").await;
    assert_eq!(
        app.protected(&fresh.access).await,
        StatusCode::OK,
        "logins go on"
    );
}
