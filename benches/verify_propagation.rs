//! jwtd-verify's propagation figure (issue #12): from the moment jwtd
//! answers a logout to the moment an embedded verifier refuses the token,
//! over 1,000 logouts, against the real jwtd binary (release) over
//! loopback HTTP. Each logout is followed by a busy loop on
//! `Verifier::verify` (the layer's decision, without the HTTP of the
//! protected service in front of it).
//!
//! Run: `cargo bench --bench verify_propagation` (about 20 s).

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use jwtd_verify::{Credentials, Options, Refusal, Verifier};
use serde_json::{Value, json};

const LOGOUTS: usize = 1000;
const ADMIN: &str = "bench-admin-token-0123456789";

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut jwtd = tokio::process::Command::new(env!("CARGO_BIN_EXE_jwtd"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            "http://bench",
        ])
        .args([
            "--admin-token",
            ADMIN,
            "--argon2-memory-kib",
            "8",
            "--argon2-iterations",
            "1",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let creds: Value = http
        .post(format!("{url}/admin/clients"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench", "feed": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = Verifier::start(Options::new(&url, "http://bench", "jwtd").credentials(
        Credentials::client(
            creds["client_id"].as_str().unwrap(),
            creds["client_secret"].as_str().unwrap(),
        ),
    ))
    .await
    .unwrap();
    let user = json!({"username": "bench", "password": "bench-password-123"});
    http.post(format!("{url}/register"))
        .json(&user)
        .send()
        .await
        .unwrap();
    let mut tokens = Vec::with_capacity(LOGOUTS);
    for _ in 0..LOGOUTS {
        let r: Value = http
            .post(format!("{url}/login"))
            .json(&user)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(r["access_token"].as_str().unwrap().to_owned());
    }
    let mut took = Vec::with_capacity(LOGOUTS);
    for t in &tokens {
        assert!(verifier.verify(t).is_ok());
        let r = http
            .post(format!("{url}/logout"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let answered = Instant::now();
        while !matches!(verifier.verify(t), Err(Refusal::Rejected(_))) {
            assert!(answered.elapsed() < Duration::from_secs(5), "never refused");
            tokio::task::yield_now().await;
        }
        took.push(answered.elapsed());
    }
    took.sort_unstable();
    let pct = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    println!(
        "logout at jwtd -> verifier refuses, {LOGOUTS} logouts: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        took[took.len() - 1]
    );
    let _ = jwtd.kill().await;
}
