//! Cluster mode against the machine's PostgreSQL and Redis: several
//! instances sharing a fresh database and a fresh channel, and faults.

use std::time::{Duration, Instant};

use jwtd::config::Config;
use jwtd::core::clock::Clock;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body, kid_of, test_config};
use crate::services::{self, CuttableProxy, PrivateRedis};

/// Starts `n` instances on `db` and `redis`, each adjusted by `f`.
async fn cluster(n: usize, db: &str, redis: &str, f: impl Fn(&mut Config)) -> Vec<TestApp> {
    let channel = services::fresh_channel();
    let mut apps = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = test_config(dir.path());
        config.database_url = db.into();
        config.serve.redis_url = Some(redis.into());
        config.serve.redis_channel = channel.clone();
        f(&mut config);
        apps.push(TestApp::start(dir, config, Clock::system()).await);
    }
    apps
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() <= limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

async fn setup() -> Option<String> {
    let db = services::fresh_database().await?;
    services::redis_up().await.then_some(db)
}

#[tokio::test]
async fn logout_on_one_instance_is_enforced_by_all_within_a_second() {
    let Some(db) = setup().await else { return };
    let apps = cluster(3, &db, services::REDIS, |_| {}).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    a.register("everywhere").await;
    let t = b.login("everywhere").await; // registered on A, logs in on B
    for app in &apps {
        assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    }
    assert_eq!(a.logout(&t.access, "local").await.0, StatusCode::OK);
    for app in [b, c] {
        let took = within(Duration::from_secs(1), || async {
            app.protected(&t.access).await == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(took.is_some(), "logout on A not enforced within 1 s");
    }
    // The other kinds travel too: a global logout on C.
    let u = a.login("everywhere").await;
    let v = b.login("everywhere").await;
    assert_eq!(c.logout(&u.access, "global").await.1["sessions_revoked"], 2);
    for app in &apps {
        for tok in [&u.access, &v.access] {
            let took = within(Duration::from_secs(1), || async {
                app.protected(tok).await == StatusCode::UNAUTHORIZED
            })
            .await;
            assert!(
                took.is_some(),
                "global logout not enforced everywhere within 1 s"
            );
        }
    }
    assert_eq!(b.refresh(&v.refresh).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotation_grace_and_theft_work_across_instances() {
    let Some(db) = setup().await else { return };
    let apps = cluster(3, &db, services::REDIS, |_| {}).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let t0 = a.user("roaming").await;
    // Rotated on A, replayed on B within the grace: the same successor.
    let (_, t1) = a.refresh(&t0.refresh).await;
    let t1 = t1.unwrap_or_else(|| panic!("no rotation"));
    let (status, again) = b.refresh(&t0.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again.map(|t| t.refresh), Some(t1.refresh.clone()));
    // Rotated again on B; the first token presented on C is an ancestor:
    // theft, the whole session dies on every instance.
    let (_, t2) = b.refresh(&t1.refresh).await;
    let t2 = t2.unwrap_or_else(|| panic!("no rotation"));
    assert_eq!(c.refresh(&t0.refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(a.refresh(&t2.refresh).await.0, StatusCode::UNAUTHORIZED);
    for app in &apps {
        let took = within(Duration::from_secs(1), || async {
            app.protected(&t2.access).await == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(took.is_some(), "stolen session still accepted");
    }
}

#[tokio::test]
async fn login_failures_count_cluster_wide() {
    let Some(db) = setup().await else { return };
    let apps = cluster(3, &db, services::REDIS, |_| {}).await;
    apps[0].register("guarded").await;
    for i in 0..5 {
        let r = apps[i % 3]
            .post_json(
                "/login",
                json!({"username": "guarded", "password": "wrong-guess"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for app in &apps {
        let r = app
            .post_json(
                "/login",
                json!({"username": "guarded", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
    }
}

#[tokio::test]
async fn client_and_admin_failures_count_cluster_wide() {
    let Some(db) = setup().await else { return };
    let apps = cluster(3, &db, services::REDIS, |c| {
        c.serve.client_auth_max_failures = 6
    })
    .await;
    let admin = |app: &TestApp, token: &'static str| {
        app.client
            .get(format!("{}/admin/clients", app.url))
            .bearer_auth(token)
            .send()
    };
    for i in 0..6 {
        let r = admin(&apps[i % 3], "a wrong admin token")
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for app in &apps {
        let r = admin(app, crate::helpers::ADMIN_TOKEN).await.expect("sent");
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "failures on the other instances did not count here"
        );
        assert!(r.headers().contains_key("retry-after"));
    }
}

#[tokio::test]
async fn a_login_burst_over_three_instances_gets_at_most_the_limit_of_checks() {
    let Some(db) = setup().await else { return };
    let apps = cluster(3, &db, services::REDIS, |c| c.argon2_concurrency = 32).await;
    apps[0].register("stormed").await;
    let all: Vec<&TestApp> = apps.iter().collect();
    let (checked, limited) = crate::login_security::burst(&all, "stormed", 90).await;
    assert!(
        checked <= 5,
        "{checked} passwords checked across the cluster"
    );
    assert_eq!(checked + limited, 90);
}

#[tokio::test]
async fn a_key_rotated_on_one_instance_is_used_and_published_by_the_others() {
    let Some(db) = setup().await else { return };
    // A staged rotation: the next key, published by both since they
    // started, signs one JWKS max-age later, on both, each by its own clock.
    let apps = cluster(2, &db, services::REDIS, |c| {
        c.serve.jwks_max_age = Duration::from_secs(1);
    })
    .await;
    let (a, b) = (&apps[0], &apps[1]);
    let old = b.user("rotation").await;
    let kid = jwtd::core::token::decode_unverified(&old.access)
        .expect("a JWT")
        .0["kid"]
        .clone();
    let next: Vec<_> = b.jwks().await["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].clone())
        .filter(|k| *k != kid)
        .collect();
    assert_eq!(next.len(), 1, "the next key is published before it signs");
    let r = a.admin_post("/admin/keys/rotate").await;
    let kid = body(r).await["kid"]
        .as_str()
        .expect("kid is a string")
        .to_owned();
    assert_eq!(
        next[0],
        kid.as_str(),
        "the rotation promotes the published key"
    );
    let took = within(Duration::from_secs(3), || async {
        let t = b.login("rotation").await;
        let (h, _) = jwtd::core::token::decode_unverified(&t.access).expect("a decodable JWT");
        h["kid"] == kid.as_str()
    })
    .await;
    assert!(took.is_some(), "B does not sign with the key rotated on A");
    let jwks = b.jwks().await;
    assert!(
        jwks["keys"]
            .as_array()
            .is_some_and(|ks| ks.iter().any(|k| k["kid"] == kid.as_str()))
    );
    assert_eq!(
        a.protected(&old.access).await,
        StatusCode::OK,
        "old tokens keep verifying"
    );
}

#[tokio::test]
async fn redis_restarted_mid_stream_loses_no_revocation() {
    let Some(db) = services::fresh_database().await else {
        return;
    };
    let mut redis = PrivateRedis::start();
    let apps = cluster(3, &db, &redis.url(), |c| {
        c.serve.max_staleness = Duration::from_secs(2)
    })
    .await;
    apps[0].register("streamed").await;
    let mut tokens = Vec::new();
    for i in 0..30 {
        tokens.push(apps[i % 3].login("streamed").await);
    }
    for (i, t) in tokens.iter().enumerate() {
        if i == 10 {
            redis.kill();
        }
        if i == 20 {
            redis.restart();
        }
        let r = apps[i % 3]
            .post_form("/oauth/revoke", None, &[("token", &t.access)])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "revocation {i}");
    }
    for app in &apps {
        for (i, t) in tokens.iter().enumerate() {
            let took = within(Duration::from_secs(5), || async {
                app.protected(&t.access).await == StatusCode::UNAUTHORIZED
            })
            .await;
            assert!(took.is_some(), "revocation {i} lost");
        }
    }
    // And the fast path is back: a new revocation propagates within a second.
    let fresh = apps[0].login("streamed").await;
    apps[0].logout(&fresh.access, "local").await;
    let b = &apps[1];
    let took = within(Duration::from_secs(1), || async {
        b.protected(&fresh.access).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(took.is_some());
}

#[tokio::test]
async fn database_outage_fails_closed_and_recovers_without_restart() {
    let Some(db) = setup().await else { return };
    let proxy = CuttableProxy::start("127.0.0.1:5432".parse().expect("parses")).await;
    let via_proxy = db.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let mut apps = cluster(1, &db, services::REDIS, |c| {
        c.serve.max_staleness = Duration::from_secs(2)
    })
    .await;
    let channel = apps[0].state.config.serve.redis_channel.clone();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = test_config(dir.path());
    config.database_url = via_proxy.as_str().into();
    config.serve.redis_url = Some(services::REDIS.into());
    config.serve.redis_channel = channel;
    config.serve.max_staleness = Duration::from_secs(2);
    apps.push(TestApp::start(dir, config, Clock::system()).await);
    let (a, d) = (&apps[0], &apps[1]);
    let t = a.user("outage").await;
    let other = a.login("outage").await;
    assert_eq!(d.protected(&t.access).await, StatusCode::OK);

    proxy.cut();
    // Revoking needs the store: 503, and nothing is claimed.
    let (status, out) = d.logout(&t.access, "local").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(out["error"], "temporarily_unavailable");
    assert_eq!(a.protected(&t.access).await, StatusCode::OK);
    // Meanwhile A revokes `other`; D cannot read the log.
    assert_eq!(a.logout(&other.access, "local").await.0, StatusCode::OK);
    // Past max_staleness, D fails closed: 503 with Retry-After, never 401.
    let took = within(Duration::from_secs(6), || async {
        let r = d.get_auth("/protected", &t.access).await;
        r.status() == StatusCode::SERVICE_UNAVAILABLE && r.headers().contains_key("retry-after")
    })
    .await;
    assert!(took.is_some(), "stale instance kept answering");
    let ready = d
        .client
        .get(format!("{}/readyz", d.url))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let took = within(Duration::from_secs(10), || async {
        d.protected(&t.access).await == StatusCode::OK
    })
    .await;
    assert!(took.is_some(), "did not recover without a restart");
    assert_eq!(
        d.protected(&other.access).await,
        StatusCode::UNAUTHORIZED,
        "missed a revocation made during the outage"
    );
    assert_eq!(d.logout(&t.access, "local").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_key_revoked_again_elsewhere_is_enforced_by_the_instance_that_answered() {
    let Some(db) = setup().await else { return };
    // Two instances that do not hear each other's events: B learns of A's
    // revocations only from its log poll (every second).
    let a = cluster(1, &db, services::REDIS, |_| {}).await;
    let b = cluster(1, &db, services::REDIS, |_| {}).await;
    let (a, b) = (&a[0], &b[0]);
    let t = a.user("rekeyed").await;
    let kid = kid_of(&t.access);
    let path = format!("/admin/keys/{kid}/revoke");
    assert_eq!(a.admin_post(&path).await.status(), StatusCode::OK);
    // B has not heard yet; its answer acknowledges the revocation all the
    // same, so from that answer on it must enforce it.
    assert_eq!(b.admin_post(&path).await.status(), StatusCode::OK);
    assert_eq!(b.protected(&t.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_token_of_a_key_this_instance_has_not_loaded_yet_revokes_it() {
    let Some(db) = setup().await else { return };
    let a = cluster(1, &db, services::REDIS, |_| {}).await;
    let b = cluster(1, &db, services::REDIS, |_| {}).await;
    let (a, b) = (&a[0], &b[0]);
    // A rotates; B (deaf to A's events) has not loaded the new key when
    // a token signed with it comes to be revoked there. B's only way to
    // learn it is its log poll (every second), after its start-up catch-up
    // has run (hence the pause): the revocation lands inside that second.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.rotate_to_an_unseen_key().await;
    let t = a.user("fresh-key").await;
    let r = b
        .post_form("/oauth/revoke", None, &[("token", &t.access)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Once B verifies with the new key (its poll), the token must still be
    // refused there: the 200 above was a revocation, not a shrug.
    let kid = kid_of(&t.access);
    let knows = within(Duration::from_secs(5), || async {
        b.jwks().await.to_string().contains(&kid)
    })
    .await;
    assert!(knows.is_some(), "B never loaded the new key");
    assert_eq!(b.protected(&t.access).await, StatusCode::UNAUTHORIZED);
    let took = within(Duration::from_secs(5), || async {
        a.protected(&t.access).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        took.is_some(),
        "the revocation never reached the other instance"
    );
}

#[tokio::test]
async fn a_revocation_that_cannot_reach_the_store_is_503_even_for_an_unknown_key() {
    let Some(db) = setup().await else { return };
    let proxy = CuttableProxy::start("127.0.0.1:5432".parse().expect("parses")).await;
    let a = cluster(1, &db, services::REDIS, |_| {}).await;
    let d = cluster(
        1,
        &db.replace("127.0.0.1:5432", &proxy.addr.to_string()),
        services::REDIS,
        |_| {},
    )
    .await;
    let (a, d) = (&a[0], &d[0]);
    // D loses the store, then A rotates to a key D has never seen.
    proxy.cut();
    a.rotate_to_an_unseen_key().await;
    let t = a.user("unreachable").await;
    for (path, form) in [
        ("/oauth/revoke", vec![("token", t.access.as_str())]),
        ("/logout", vec![]),
    ] {
        let r = if form.is_empty() {
            d.client
                .post(format!("{}{path}", d.url))
                .bearer_auth(&t.access)
                .send()
                .await
                .expect("the request is sent")
        } else {
            d.post_form(path, None, &form).await
        };
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{path} acknowledged what it could not check"
        );
    }
    proxy.restore();
    assert_eq!(
        a.protected(&t.access).await,
        StatusCode::OK,
        "nothing was revoked"
    );
}
