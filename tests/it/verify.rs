//! jwtd-verify against the real jwtd binary over real HTTP (#12): the
//! example service enforces a logout; the layer follows key rotation and
//! key revocation, keeps enforcing what it knows when jwtd is gone, fails
//! closed after `max_staleness` and recovers, picks up revocations made
//! while it was away, and refuses forged tokens as jwtd does.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use jwtd::core::keys::{Algorithm, KeyMaterial};
use jwtd_verify::{Auth, Credentials, Options, Verifier};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, Binary, ISSUER, PASSWORD, claims_of, free_port, kid_of, run_cli, server_args,
    sign_raw, tamper,
};

/// A jwtd binary on a fixed port (so it can come back there), on `dir`.
async fn jwtd_on(port: u16, dir: &std::path::Path) -> Binary {
    let data = dir.display().to_string();
    let mut args = server_args("1024", "1");
    args.extend([
        "--data-dir".into(),
        data,
        "--jwks-max-age".into(),
        "1s".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Binary::start_on(&format!("127.0.0.1:{port}"), &args, &[]).await
}

/// A registered client allowed to read the feed.
async fn feed_client(http: &reqwest::Client, jwtd: &str) -> Credentials {
    let r: Value = http
        .post(format!("{jwtd}/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "verify tests", "feed": true}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    Credentials::client(
        r["client_id"].as_str().expect("an id"),
        r["client_secret"].as_str().expect("a secret"),
    )
}

/// Registers `user` (once) and logs in: an access token.
async fn login(http: &reqwest::Client, jwtd: &str, user: &str) -> String {
    let creds = json!({"username": user, "password": PASSWORD});
    let _ = http
        .post(format!("{jwtd}/register"))
        .json(&creds)
        .send()
        .await;
    let r: Value = http
        .post(format!("{jwtd}/login"))
        .json(&creds)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    r["access_token"].as_str().expect("a token").to_owned()
}

/// A service with one route behind the layer, on its own port.
async fn protected_service(verifier: &Verifier) -> String {
    let app = Router::new()
        .route(
            "/p",
            get(|a: Auth| async move { a.token.claims.sub.clone() }),
        )
        .layer(verifier.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn status(http: &reqwest::Client, url: &str, token: &str) -> StatusCode {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
        .status()
}

/// Waits up to `limit` for `url` to answer `want` for `token`; how long it took.
async fn until(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    want: StatusCode,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = status(http, url, token).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{url} still answers {got}, not {want}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn options(jwtd: &str, creds: Credentials) -> Options {
    Options::new(jwtd, ISSUER, "jwtd")
        .credentials(creds)
        .max_staleness(Duration::from_secs(1))
        .jwks_cooldown(Duration::from_millis(200))
}

/// A jwtd binary on `port` and `dir`, and a verifier of it (a registered
/// feed client, [`options`] adjusted by `tweak`) protecting one route.
struct Layered {
    jwtd: Binary,
    http: reqwest::Client,
    verifier: Verifier,
    /// The protected route's URL.
    p: String,
}

async fn layered(
    port: u16,
    dir: &std::path::Path,
    tweak: impl FnOnce(Options) -> Options,
) -> Layered {
    let jwtd = jwtd_on(port, dir).await;
    let http = reqwest::Client::new();
    let creds = feed_client(&http, &jwtd.url).await;
    let verifier = Verifier::start(tweak(options(&jwtd.url, creds)))
        .await
        .expect("starts");
    let p = format!("{}/p", protected_service(&verifier).await);
    Layered {
        jwtd,
        http,
        verifier,
        p,
    }
}

#[tokio::test]
async fn the_example_service_enforces_a_logout_at_jwtd() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let jwtd = jwtd_on(free_port(), dir.path()).await;
    let http = reqwest::Client::new();
    let token = login(&http, &jwtd.url, "example-user").await;
    let port = free_port();
    let example = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("examples/resource-server")))
        .expect("target dir");
    let mut service = tokio::process::Command::new(example)
        .env("JWTD_URL", &jwtd.url)
        .env("JWTD_ISSUER", ISSUER)
        .env("JWTD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts (cargo test builds it)");
    let hello = format!("http://127.0.0.1:{port}/hello");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(&hello).send().await.is_err() {
        assert!(Instant::now() < deadline, "the example did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .get(&hello)
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("JSON")["hello"],
        "example-user"
    );
    let r = http.get(&hello).send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let out = http
        .post(format!("{}/logout", jwtd.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), StatusCode::OK);
    let took = until(
        &http,
        &hello,
        &token,
        StatusCode::UNAUTHORIZED,
        Duration::from_millis(500),
    )
    .await;
    println!("logout at jwtd refused by the example service after {took:?}");
    let r = http
        .get(&hello)
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="token revoked""#
    );
    let _ = service.kill().await;
}

#[tokio::test]
async fn the_layer_follows_key_rotation_and_key_revocation() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let Layered {
        jwtd,
        http,
        verifier,
        p,
    } = layered(free_port(), dir.path(), |o| o).await;
    let old = login(&http, &jwtd.url, "rotating").await;
    assert_eq!(status(&http, &p, &old).await, StatusCode::OK);
    // Two emergency rotations: the second key was never published before
    // it signed, so the verifier meets an unknown kid and refetches.
    for _ in 0..2 {
        let r = http
            .post(format!("{}/admin/keys/rotate?immediate=true", jwtd.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let new = login(&http, &jwtd.url, "rotating").await;
    assert_ne!(kid_of(&new), kid_of(&old));
    until(&http, &p, &new, StatusCode::OK, Duration::from_secs(3)).await;
    assert_eq!(
        status(&http, &p, &old).await,
        StatusCode::OK,
        "old keys keep verifying"
    );
    // Revoking the old key: its tokens stop, the new key's do not.
    let r = http
        .post(format!("{}/admin/keys/{}/revoke", jwtd.url, kid_of(&old)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    until(
        &http,
        &p,
        &old,
        StatusCode::UNAUTHORIZED,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(status(&http, &p, &new).await, StatusCode::OK);
    assert!(verifier.stats().jwks_fetches >= 1);
}

#[tokio::test]
async fn jwtd_gone_then_back_stale_then_fresh_with_what_it_missed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let Layered {
        jwtd,
        http,
        verifier: _verifier,
        p,
    } = layered(port, dir.path(), |o| o).await;
    let url = jwtd.url.clone();
    let revoked = login(&http, &url, "gone-a").await;
    let kept = login(&http, &url, "gone-b").await;
    let missed = login(&http, &url, "gone-c").await;
    http.post(format!("{url}/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .expect("sent");
    until(
        &http,
        &p,
        &revoked,
        StatusCode::UNAUTHORIZED,
        Duration::from_millis(500),
    )
    .await;
    jwtd.stop().await;
    // Known revocations stay enforced; live tokens work until the view is
    // older than max_staleness (1 s), then everything is 503.
    assert_eq!(status(&http, &p, &revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&http, &p, &kept).await, StatusCode::OK);
    let took = until(
        &http,
        &p,
        &kept,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(3),
    )
    .await;
    assert!(
        took >= Duration::from_millis(500),
        "503 after {took:?}: too early"
    );
    let r = http.get(&p).bearer_auth(&kept).send().await.expect("sent");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        r.json::<Value>().await.expect("JSON")["error"],
        "temporarily_unavailable"
    );
    // While the verifier cannot hear: a revocation by the CLI on jwtd's store.
    let out = run_cli(dir.path(), &["revoke", "--user", "gone-c"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _back = jwtd_on(port, dir.path()).await;
    until(&http, &p, &kept, StatusCode::OK, Duration::from_secs(5)).await;
    assert_eq!(
        status(&http, &p, &missed).await,
        StatusCode::UNAUTHORIZED,
        "the revocation made while the verifier was away arrived with the resumed feed"
    );
    assert_eq!(status(&http, &p, &revoked).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_tokens_are_refused_as_jwtd_refuses_them() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let Layered {
        jwtd,
        http,
        verifier: _verifier,
        p,
    } = layered(free_port(), dir.path(), |o| o).await;
    let good = login(&http, &jwtd.url, "forger").await;
    let payload = claims_of(&good);
    let kid = kid_of(&good);
    let b64 = |v: &Value| jwtd::core::b64::encode(v.to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        b64(&payload)
    );
    // HS256 "signed" with the public key's bytes as the secret (confusion).
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", jwtd.url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let x = jwks["keys"][0]["x"]
        .as_str()
        .expect("an OKP key")
        .to_owned();
    let hs = KeyMaterial {
        kid: kid.clone(),
        alg: Algorithm::HS256,
        private: x.into_bytes(),
        public: Vec::new(),
    };
    let confused = sign_raw(
        &hs,
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string(),
        &payload,
    );
    let other = KeyMaterial::generate(Algorithm::EdDSA).expect("a key");
    let injected = sign_raw(
        &other,
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../etc/passwd", "jwk": other.jwk()})
            .to_string(),
        &payload,
    );
    for (forged, why) in [
        (none, "algorithm not allowed"),
        (confused, "algorithm not allowed"),
        (injected, "unknown signing key"),
        (tamper(&good), "invalid signature"),
        ("not.a.jwt".to_owned(), "malformed token"),
    ] {
        for url in [p.clone(), format!("{}/protected", jwtd.url)] {
            let r = http
                .get(&url)
                .bearer_auth(&forged)
                .send()
                .await
                .expect("sent");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why} at {url}");
            assert_eq!(
                r.headers()["www-authenticate"],
                format!(r#"Bearer error="invalid_token", error_description="{why}""#),
                "{url}"
            );
        }
    }
    assert_eq!(status(&http, &p, &good).await, StatusCode::OK);
}

/// Unknown `kid`s (an attacker's random ones) cost jwtd at most one JWKS
/// fetch per cooldown, however many arrive.
#[tokio::test]
async fn unknown_kids_refetch_the_jwks_at_most_once_per_cooldown() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let Layered {
        jwtd,
        http,
        verifier,
        ..
    } = layered(free_port(), dir.path(), |o| {
        o.jwks_cooldown(Duration::from_secs(2))
    })
    .await;
    let good = login(&http, &jwtd.url, "kids").await;
    let payload = claims_of(&good);
    let before = verifier.stats().jwks_fetches;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let key = KeyMaterial::generate(Algorithm::EdDSA).expect("a key");
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}).to_string();
        let forged = sign_raw(&key, &header, &payload);
        assert!(verifier.verify(&forged).is_err());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fetched = verifier.stats().jwks_fetches - before;
    assert!(
        fetched <= 1,
        "{fetched} JWKS fetches for 1.5 s of unknown kids (cooldown 2 s)"
    );
    assert!(verifier.verify(&good).is_ok());
}

/// A resume point jwtd no longer has (its store was replaced: the
/// verifier's cursor is beyond the new log's head) reloads the snapshot,
/// and the feed works again: a logout at the new jwtd is enforced.
#[tokio::test]
async fn a_cursor_jwtd_does_not_know_reloads_the_snapshot() {
    let (old_dir, new_dir) = (
        tempfile::tempdir().expect("a temp dir"),
        tempfile::tempdir().expect("a temp dir"),
    );
    let port = free_port();
    let jwtd = jwtd_on(port, old_dir.path()).await;
    let http = reqwest::Client::new();
    // The admin token: a client registered in the old store would be
    // unknown to the new one.
    let verifier = Verifier::start(options(
        &jwtd.url,
        Credentials::AdminToken(ADMIN_TOKEN.into()),
    ))
    .await
    .expect("starts");
    let p = format!("{}/p", protected_service(&verifier).await);
    for user in ["gap-a", "gap-b", "gap-c"] {
        let t = login(&http, &jwtd.url, user).await;
        http.post(format!("{}/logout", jwtd.url))
            .bearer_auth(&t)
            .send()
            .await
            .expect("sent");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while verifier.stats().position < 3 {
        assert!(
            Instant::now() < deadline,
            "the feed never reached position 3"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    jwtd.stop().await;
    let fresh = jwtd_on(port, new_dir.path()).await;
    let t = login(&http, &fresh.url, "gap-new").await;
    until(&http, &p, &t, StatusCode::OK, Duration::from_secs(5)).await;
    http.post(format!("{}/logout", fresh.url))
        .bearer_auth(&t)
        .send()
        .await
        .expect("sent");
    until(
        &http,
        &p,
        &t,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(2),
    )
    .await;
}

/// The server's own verification cases (`verification::faulty_tokens`),
/// each with one fault, get the same 401 and challenge from the layer as
/// from jwtd; the control token passes both.
#[tokio::test]
async fn the_layer_refuses_what_jwtd_refuses_with_the_same_words() {
    let app = crate::helpers::TestApp::spawn().await;
    let verifier = Verifier::start(options(
        &app.url,
        Credentials::AdminToken(ADMIN_TOKEN.into()),
    ))
    .await
    .expect("starts");
    let p = format!("{}/p", protected_service(&verifier).await);
    let key = app.active_key().await;
    let reg = app.register("victim").await;
    let sub = reg["user_id"].as_str().expect("user_id is a string");
    let claims = serde_json::to_value(app.claims(sub)).expect("serialises");
    let good = sign_raw(&key, &crate::helpers::header_for(&key), &claims);
    let http = reqwest::Client::new();
    assert_eq!(status(&http, &p, &good).await, StatusCode::OK);
    let cases = crate::verification::faulty_tokens(&key, &claims, app.clock.now());
    assert!(cases.len() >= 14);
    for (token, description) in cases {
        for url in [p.clone(), format!("{}/protected", app.url)] {
            let r = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("sent");
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{description} at {url}"
            );
            assert_eq!(
                r.headers()["www-authenticate"],
                format!(r#"Bearer error="invalid_token", error_description="{description}""#),
                "{url}"
            );
        }
    }
}
