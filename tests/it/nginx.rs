//! A real nginx with `docs/integrations/nginx.conf` in front of a small
//! upstream, authenticating through jwtd's `/auth/verify`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::any;
use reqwest::StatusCode;

use crate::helpers::{TestApp, free_port};

/// Finds nginx, or explains why the test cannot run (a failure in CI).
fn nginx_binary() -> Option<String> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists());
    match found {
        Some(p) => Some((*p).to_owned()),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "nginx is not installed; scripts/test.sh installs it (apt-get install nginx-light)"
            )
        }
        None => {
            eprintln!("skipping: nginx is not installed (scripts/test.sh installs it)");
            None
        }
    }
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream that answers with the identity headers it received.
async fn upstream() -> u16 {
    let app = Router::new().fallback(any(|h: HeaderMap| async move {
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        format!(
            "{}|{}|{}",
            get("x-auth-subject"),
            get("x-auth-username"),
            get("x-auth-session")
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a port");
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .expect("a local port");
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn nginx_auth_request_admits_valid_tokens_and_refuses_revoked_ones() {
    let Some(nginx) = nginx_binary() else { return };
    let app = TestApp::spawn().await;
    let upstream_port = upstream().await;
    let nginx_port = free_port();
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/integrations/nginx.conf"
    ))
    .expect("the file is readable")
    .replace("127.0.0.1:8080", &app.url.replace("http://", ""))
    .replace("127.0.0.1:9000", &format!("127.0.0.1:{upstream_port}"))
    .replace("127.0.0.1:8000", &format!("127.0.0.1:{nginx_port}"));
    let prefix = tempfile::tempdir().expect("a temp dir");
    let conf_path = prefix.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("the file is written");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start nginx: {e}"));
    let _guard = Nginx(child);
    let url = format!("http://127.0.0.1:{nginx_port}/some/app/path");
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.get(&url).send().await.is_err() {
        // nginx writes its error log only once it has started.
        let log = std::fs::read_to_string(prefix.path().join("error.log"))
            .unwrap_or_else(|e| format!("(no error log: {e})"));
        assert!(Instant::now() < deadline, "nginx did not start: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // No token: 401 from jwtd, through nginx.
    let r = c.get(&url).send().await.expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A valid token: the upstream sees who is calling, not what the client claims.
    let reg = app.register("behind-nginx").await;
    let t = app.login("behind-nginx").await;
    let r = c
        .get(&url)
        .bearer_auth(&t.access)
        .header("X-Auth-Subject", "spoofed-admin")
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
    let seen = r.text().await.expect("a text body");
    let sub = reg["user_id"].as_str().expect("user_id is a string");
    assert_eq!(seen, format!("{sub}|behind-nginx|{}", t.session));

    // After logout: 401 on the very next request.
    assert_eq!(app.logout(&t.access, "local").await.0, StatusCode::OK);
    let r = c
        .get(&url)
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
