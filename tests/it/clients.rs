//! Registered clients (SPEC §2, §5, §6): the CLI and admin API that make
//! them, client authentication at every endpoint that takes it, sessions
//! bound to the client that created them, and `POST /oauth/token`.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, PASSWORD, TestApp, body, claims_of};

/// A registered client's id and secret.
pub struct Creds {
    pub id: String,
    pub secret: String,
}

/// Registers a client through the admin API.
pub async fn admin_create(app: &TestApp, name: &str, introspect: bool, feed: bool) -> Creds {
    let r = app
        .client
        .post(format!("{}/admin/clients", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": name, "introspect": introspect, "feed": feed}))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = body(r).await;
    Creds {
        id: b["client_id"].as_str().expect("an id").to_owned(),
        secret: b["client_secret"].as_str().expect("a secret").to_owned(),
    }
}

/// POST a form with HTTP Basic client credentials.
pub async fn post_basic(app: &TestApp, path: &str, c: &Creds, form: &[(&str, &str)]) -> Response {
    app.client
        .post(format!("{}{path}", app.url))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form)
        .send()
        .await
        .expect("the request is sent")
}

#[tokio::test]
async fn the_cli_registers_lists_and_deletes_clients() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["client", "add", "billing", "--introspect"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .expect("printed")
            .to_owned()
    };
    let c = Creds {
        id: field("client_id"),
        secret: field("client_secret"),
    };
    let list = app.cli(&["client", "list"], None);
    assert!(
        list.stdout
            .contains(&format!("{}\tbilling\tintrospect\t", c.id)),
        "{}",
        list.stdout
    );
    assert!(
        !list.stdout.contains(&c.secret),
        "the secret is never shown again"
    );
    // The running server accepts the client at once.
    let t = app.user("cliclient").await;
    let r = post_basic(&app, "/oauth/introspect", &c, &[("token", &t.access)]).await;
    assert_eq!(body(r).await["active"], true);
    let out = app.cli(&["client", "delete", &c.id], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = post_basic(&app, "/oauth/introspect", &c, &[("token", &t.access)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_ne!(app.cli(&["client", "delete", &c.id], None).code, 0);
    assert_ne!(app.cli(&["client", "add", ""], None).code, 0);
}

#[tokio::test]
async fn the_admin_api_manages_clients() {
    let app = TestApp::spawn().await;
    let c = admin_create(&app, "resource server", false, true).await;
    let list = body(app.admin_get("/admin/clients").await).await;
    assert_eq!(
        list["clients"][0],
        json!({"client_id": c.id, "name": "resource server", "introspect": false, "feed": true,
               "created_at": list["clients"][0]["created_at"]})
    );
    assert!(!list.to_string().contains(&c.secret));
    let r = app
        .client
        .post(format!("{}/admin/clients", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": ""}))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .client
        .get(format!("{}/admin/clients", app.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let del = |id: String| {
        app.client
            .delete(format!("{}/admin/clients/{id}", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(
        del(c.id.clone()).await.expect("sent").status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        del(c.id.clone()).await.expect("sent").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        body(app.admin_get("/admin/clients").await).await["clients"],
        json!([])
    );
}

#[tokio::test]
async fn introspection_takes_a_client_with_the_right() {
    let app = TestApp::spawn().await;
    let rs = admin_create(&app, "rs", true, false).await;
    let feed_only = admin_create(&app, "feeder", false, true).await;
    let t = app.user("introclient").await;
    // client_secret_basic and client_secret_post.
    let r = post_basic(&app, "/oauth/introspect", &rs, &[("token", &t.access)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let i = body(r).await;
    assert_eq!(
        (i["active"].clone(), i["client_id"].clone()),
        (json!(true), json!("jwtd"))
    );
    assert_eq!(i["token_type"], "Bearer");
    let post = [
        ("token", t.access.as_str()),
        ("client_id", &rs.id),
        ("client_secret", &rs.secret),
    ];
    let r = app.post_form("/oauth/introspect", None, &post).await;
    assert_eq!(body(r).await["active"], true);
    // Without the right: 403; wrong secret or unknown client: 401.
    let r = post_basic(
        &app,
        "/oauth/introspect",
        &feed_only,
        &[("token", &t.access)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["error"], "unauthorized_client");
    let public = [("token", t.access.as_str()), ("client_id", "jwtd")];
    let r = app.post_form("/oauth/introspect", None, &public).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the public client has no rights"
    );
    for wrong in [
        Creds {
            id: rs.id.clone(),
            secret: format!("{}x", rs.secret),
        },
        Creds {
            id: "nobody".into(),
            secret: rs.secret.clone(),
        },
    ] {
        let r = post_basic(&app, "/oauth/introspect", &wrong, &[("token", &t.access)]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], r#"Basic realm="jwtd""#);
        assert_eq!(body(r).await["error"], "invalid_client");
        let post = [
            ("token", t.access.as_str()),
            ("client_id", &wrong.id),
            ("client_secret", &wrong.secret),
        ];
        let r = app.post_form("/oauth/introspect", None, &post).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers().get("www-authenticate").is_none(),
            "no Basic was tried"
        );
    }
    // Basic and body fields that disagree authenticate nobody.
    let both = [
        ("token", t.access.as_str()),
        ("client_id", &feed_only.id),
        ("client_secret", &feed_only.secret),
    ];
    let r = post_basic(&app, "/oauth/introspect", &rs, &both).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_feed_takes_a_client_with_the_right() {
    let app = TestApp::spawn().await;
    let feeder = admin_create(&app, "feeder", false, true).await;
    let rs = admin_create(&app, "rs", true, false).await;
    let get = |path: &'static str, c: &Creds| {
        app.client
            .get(format!("{}{path}", app.url))
            .basic_auth(&c.id, Some(&c.secret))
            .send()
    };
    let r = get("/revocations", &feeder).await.expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(r).await["items"].is_array());
    let r = get("/revocations/stream", &feeder).await.expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    drop(r);
    let r = get("/revocations", &rs).await.expect("sent");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .get(format!("{}/revocations", app.url))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_client");
    assert_eq!(
        app.admin_get("/revocations").await.status(),
        StatusCode::OK,
        "the admin token still works"
    );
}

/// Logs `username` in through `c` (JSON body credentials).
pub async fn login_via(app: &TestApp, username: &str, c: &Creds) -> Value {
    let r = app
        .post_json(
            "/login",
            json!({"username": username, "password": PASSWORD, "client_id": c.id, "client_secret": c.secret}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

#[tokio::test]
async fn a_clients_sessions_refresh_only_with_its_credentials() {
    let app = TestApp::spawn().await;
    let web = admin_create(&app, "web", false, false).await;
    let other = admin_create(&app, "other", false, false).await;
    app.register("bound").await;
    let login = login_via(&app, "bound", &web).await;
    assert_eq!(
        claims_of(login["access_token"].as_str().expect("a token"))["client_id"],
        web.id.as_str()
    );
    let refresh = login["refresh_token"].as_str().expect("a refresh token");
    // Wrong secret at login: 401 invalid_client, and no session.
    let r = app
        .post_json("/login", json!({"username": "bound", "password": PASSWORD, "client_id": web.id, "client_secret": "nope"}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_client");
    // No credentials, or another client's: refused, and the token is not spent.
    let r = app
        .post_json("/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_client");
    let r = app
        .post_json(
            "/token/refresh",
            json!({"refresh_token": refresh, "client_id": other.id, "client_secret": other.secret}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_grant");
    let r = post_basic(
        &app,
        "/oauth/token",
        &other,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(r).await["error"], "invalid_grant");
    let r = app
        .post_form(
            "/oauth/token",
            None,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_client");
    // Its own client: rotated, still under its client_id.
    let r = post_basic(
        &app,
        "/oauth/token",
        &web,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = body(r).await;
    assert_eq!(
        claims_of(t["access_token"].as_str().expect("a token"))["client_id"],
        web.id.as_str()
    );
    let r = app
        .post_json("/token/refresh", json!({"refresh_token": t["refresh_token"], "client_id": web.id, "client_secret": web.secret}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Deleting the client ends its sessions.
    let access = body(r).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert_eq!(app.protected(&access).await, StatusCode::OK);
    let r = app
        .client
        .delete(format!("{}/admin/clients/{}", app.url, web.id))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.protected(&access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_token_endpoint_speaks_rfc_6749() {
    let app = TestApp::spawn().await;
    let t = app.user("oauthtoken").await;
    let form = |grant: &'static str, token: &str| {
        vec![("grant_type", grant), ("refresh_token", token)]
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>()
    };
    let post = |f: Vec<(&'static str, String)>| {
        app.client
            .post(format!("{}/oauth/token", app.url))
            .form(&f)
            .send()
    };
    let r = post(form("refresh_token", &t.refresh)).await.expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert!(b["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert!(b.get("session_id").is_none(), "§5.1 fields only");
    assert_eq!(
        claims_of(b["access_token"].as_str().expect("a token"))["client_id"],
        "jwtd"
    );
    assert_eq!(
        app.protected(b["access_token"].as_str().expect("a token"))
            .await,
        StatusCode::OK
    );
    // The public client may name itself.
    let next = b["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let mut named = form("refresh_token", &next);
    named.push(("client_id", "jwtd".into()));
    assert_eq!(post(named).await.expect("sent").status(), StatusCode::OK);
    // §5.2 errors.
    for (f, status, code) in [
        (
            form("password", &next),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "refresh_token".to_owned())],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("refresh_token", next.clone())],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            form("refresh_token", "not-a-token"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            form("refresh_token", &t.refresh),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ] {
        let r = post(f).await.expect("sent");
        assert_eq!(r.status(), status, "{code}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(body(r).await["error"], code);
    }
    let r = app
        .post_json("/oauth/token", json!({"grant_type": "refresh_token"}))
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let meta = body(
        app.client
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                app.url
            ))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(
        meta["token_endpoint"]
            .as_str()
            .expect("a URL")
            .ends_with("/oauth/token")
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        meta["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

#[tokio::test]
async fn revocation_accepts_client_credentials_and_refuses_wrong_ones() {
    let app = TestApp::spawn().await;
    let c = admin_create(&app, "revoker", false, false).await;
    app.register("revokeclient").await;
    let t = login_via(&app, "revokeclient", &c).await;
    let access = t["access_token"].as_str().expect("a token");
    let wrong = Creds {
        id: c.id.clone(),
        secret: "wrong".into(),
    };
    let r = post_basic(&app, "/oauth/revoke", &wrong, &[("token", access)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "invalid_client");
    assert_eq!(
        app.protected(access).await,
        StatusCode::OK,
        "a refused request revokes nothing"
    );
    let r = post_basic(&app, "/oauth/revoke", &c, &[("token", access)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.protected(access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_cannot_revoke_a_token_issued_to_another() {
    // RFC 7009 §2.1: the server checks the token was issued to the client
    // that asks; unauthenticated requests act for the public client.
    let app = TestApp::spawn().await;
    let (a, b) = (
        admin_create(&app, "a", false, false).await,
        admin_create(&app, "b", false, false).await,
    );
    app.register("owned").await;
    let of_a = login_via(&app, "owned", &a).await;
    let of_public = app.login("owned").await;
    let field = |v: &Value, k: &str| v[k].as_str().expect("a token").to_owned();
    let (access, refresh) = (field(&of_a, "access_token"), field(&of_a, "refresh_token"));
    for token in [&access, &refresh] {
        for r in [
            post_basic(&app, "/oauth/revoke", &b, &[("token", token)]).await,
            app.post_form("/oauth/revoke", None, &[("token", token)])
                .await,
        ] {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            assert_eq!(body(r).await["error"], "unauthorized_client");
        }
    }
    assert_eq!(
        app.protected(&access).await,
        StatusCode::OK,
        "nothing was revoked"
    );
    let r = post_basic(&app, "/oauth/revoke", &a, &[("token", &of_public.access)]).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a's credentials, jwtd's token"
    );
    assert_eq!(app.protected(&of_public.access).await, StatusCode::OK);
    // Its own client revokes it; the public client revokes its own.
    let r = post_basic(&app, "/oauth/revoke", &a, &[("token", &refresh)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.protected(&access).await, StatusCode::UNAUTHORIZED);
    let r = app
        .post_form("/oauth/revoke", None, &[("token", &of_public.access)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.protected(&of_public.access).await,
        StatusCode::UNAUTHORIZED
    );
}
