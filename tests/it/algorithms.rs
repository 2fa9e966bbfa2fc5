//! Every algorithm end to end: login, protected, refresh, logout, rejection;
//! and the key persists across a restart.

use jwtd::core::keys::Algorithm;
use reqwest::StatusCode;

use crate::helpers::{TestApp, test_config};

#[tokio::test]
async fn every_algorithm_works_end_to_end_and_survives_restart() {
    for alg in Algorithm::ALL {
        let app = TestApp::spawn_with(|c| c.serve.algorithm = alg).await;
        let t = app.user("alg-user").await;
        let (header, _) = jwtd::core::token::decode_unverified(&t.access).expect("a decodable JWT");
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(app.protected(&t.access).await, StatusCode::OK, "{alg}");
        let (status, next) = app.refresh(&t.refresh).await;
        assert_eq!(status, StatusCode::OK, "{alg}");
        let next = next.unwrap_or_else(|| panic!("{alg}: no tokens"));
        assert_eq!(app.protected(&next.access).await, StatusCode::OK, "{alg}");

        // Restart on the same data dir: same key, tokens still valid.
        let kid = app.active_key().await.kid;
        let dir = app.stop().await;
        let mut config = test_config(dir.path());
        config.serve.algorithm = alg;
        let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
        assert_eq!(app.active_key().await.kid, kid, "{alg}: key regenerated");
        assert_eq!(
            app.protected(&next.access).await,
            StatusCode::OK,
            "{alg} after restart"
        );
        let (status, _) = app.logout(&next.access, "local").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            app.protected(&next.access).await,
            StatusCode::UNAUTHORIZED,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn changing_the_algorithm_rotates_but_old_tokens_keep_verifying() {
    let app = TestApp::spawn().await;
    let t = app.user("rotating").await;
    let old_kid = app.active_key().await.kid;
    let dir = app.stop().await;
    let mut config = test_config(dir.path());
    config.serve.algorithm = Algorithm::ES256;
    let app = TestApp::start(dir, config, jwtd::core::clock::Clock::system()).await;
    let new_key = app.active_key().await;
    assert_ne!(new_key.kid, old_kid);
    assert_eq!(new_key.alg, Algorithm::ES256);
    assert_eq!(app.protected(&t.access).await, StatusCode::OK);
    let fresh = app.login("rotating").await;
    let (header, _) = jwtd::core::token::decode_unverified(&fresh.access).expect("a decodable JWT");
    assert_eq!(header["alg"], "ES256");
}
