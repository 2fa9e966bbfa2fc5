//! Connections a client cannot hold hostage (SPEC §1): header-read and idle
//! timeouts, the connection bound, and a shutdown that neither waits
//! forever for a feed consumer nor drops a request that is nearly done.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_TOKEN, Binary, PASSWORD, TestApp, post_value, server_args};

fn addr(app_url: &str) -> String {
    app_url.trim_start_matches("http://").to_owned()
}

/// Waits up to `limit` for the server to close `s`, writing one more byte
/// of a request head every 200 ms when `drip` (a slowloris client).
async fn closed_within(s: &mut TcpStream, limit: Duration, drip: bool) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        if drip && s.write_all(b"x").await.is_err() {
            return true;
        }
        let read = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return true;
        }
    }
    false
}

/// A raw keep-alive `GET /healthz`, answered on `s`.
async fn raw_healthz(s: &mut TcpStream) -> String {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: jwtd\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn slowloris_heads_are_cut_off_while_others_are_served() {
    let app = TestApp::spawn_with(|c| c.serve.header_read_timeout = Duration::from_secs(1)).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr(&app.url)).await.expect("connects");
        s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            .await
            .expect("write_all succeeds");
        slow.push(s);
    }
    let healthz = app.client.get(format!("{}/healthz", app.url)).send().await;
    assert_eq!(healthz.map(|r| r.status()).ok(), Some(StatusCode::OK));
    for s in &mut slow {
        assert!(
            closed_within(s, Duration::from_secs(10), true).await,
            "a head dripping one byte at a time was never cut off"
        );
    }
}

#[tokio::test]
async fn idle_connections_are_closed_and_busy_ones_kept() {
    let app = TestApp::spawn_with(|c| c.serve.idle_timeout = Duration::from_secs(1)).await;
    // A connection that never sends a byte, and one idle after a request.
    let mut silent = TcpStream::connect(addr(&app.url)).await.expect("connects");
    let mut used = TcpStream::connect(addr(&app.url)).await.expect("connects");
    assert!(raw_healthz(&mut used).await.starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut silent, Duration::from_secs(10), false).await);
    assert!(closed_within(&mut used, Duration::from_secs(10), false).await);

    // A feed stream is a request in flight, however quiet: it stays open.
    let stream = app
        .client
        .get(format!("{}/revocations/stream", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut stream = stream;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let t = app.user("after-idle").await;
    app.logout(&t.access, "local").await;
    // Heartbeats came meanwhile; the revocation follows them.
    let mut text = String::new();
    while !text.contains("event: revocation") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await;
        match chunk {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the feed stream was closed while busy: {other:?}\n{text}"),
        }
    }
    assert!(text.contains("event: heartbeat"), "{text}");
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_and_held_ones_served() {
    let app = TestApp::spawn_with(|c| c.max_connections = 16).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(addr(&app.url)).await.expect("connects");
        // One answered request each: the server has accepted all of them.
        assert!(raw_healthz(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut extra = TcpStream::connect(addr(&app.url)).await.expect("connects");
    assert!(
        closed_within(&mut extra, Duration::from_secs(5), false).await,
        "a connection past max_connections was kept"
    );
    for s in &mut held {
        assert!(raw_healthz(s).await.starts_with("HTTP/1.1 200"));
    }
    // Closing one makes room for a new one.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut next = TcpStream::connect(addr(&app.url)).await.expect("connects");
    assert!(raw_healthz(&mut next).await.starts_with("HTTP/1.1 200"));
}

fn sigterm(server: &Binary) {
    let pid = server.child.id().unwrap_or_else(|| panic!("no pid"));
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "kill -TERM failed");
}

/// Waits up to `limit` for the server to exit; its exit code.
async fn exit_code(server: &mut Binary, limit: Duration) -> Option<i32> {
    match tokio::time::timeout(limit, server.child.wait()).await {
        Ok(Ok(status)) => status.code(),
        _ => None,
    }
}

/// A server on `dir` whose password hash costs `argon2` (KiB, passes).
fn serve_args(dir: &std::path::Path, argon2: [&str; 2]) -> Vec<String> {
    let mut args = vec!["--data-dir".to_owned(), dir.display().to_string()];
    args.extend(server_args(argon2[0], argon2[1]));
    args
}

#[tokio::test]
async fn sigterm_ends_feed_streams_and_exits_at_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let args = serve_args(dir.path(), ["1024", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Binary::start(&args, &[]).await;
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{}/revocations/stream", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(stream.status(), StatusCode::OK);
    sigterm(&server);
    assert_eq!(
        exit_code(&mut server, Duration::from_secs(5)).await,
        Some(0),
        "jwtd did not exit 0 with a feed consumer connected"
    );
    let end = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await;
    assert!(
        matches!(end, Ok(Ok(None) | Err(_))),
        "the stream did not end: {end:?}"
    );
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_within_the_grace() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A login whose password hash takes a good second: in flight when
    // SIGTERM arrives.
    let args = serve_args(dir.path(), ["262144", "6"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Binary::start(&args, &[]).await;
    let client = reqwest::Client::new();
    let creds = json!({"username": "patient", "password": PASSWORD});
    post_value(&client, &format!("{}/register", server.url), &creds).await;
    let login = {
        let (client, url, creds) = (
            client.clone(),
            format!("{}/login", server.url),
            creds.clone(),
        );
        tokio::spawn(async move { client.post(url).json(&creds).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server);
    let answer = login.await.expect("the login task finishes");
    assert_eq!(
        answer.map(|r| r.status()).ok(),
        Some(StatusCode::OK),
        "the login in flight was cut off"
    );
    assert_eq!(
        exit_code(&mut server, Duration::from_secs(15)).await,
        Some(0)
    );
    // New connections are refused once shutdown began.
    assert!(
        client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn past_the_grace_requests_are_cut_off_and_logged() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut args = serve_args(dir.path(), ["262144", "12"]);
    args.extend(["--shutdown-grace", "100ms"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Binary::start(&args, &[]).await;
    let client = reqwest::Client::new();
    let creds = json!({"username": "impatient", "password": PASSWORD});
    let login = {
        let (client, url, creds) = (client.clone(), format!("{}/register", server.url), creds);
        tokio::spawn(async move { client.post(url).json(&creds).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server);
    assert_eq!(
        exit_code(&mut server, Duration::from_secs(10)).await,
        Some(0)
    );
    let answer = login.await.expect("the login task finishes");
    assert!(answer.is_err(), "a request past the grace was answered");
    let logs = server.all_logs().await;
    assert!(logs.contains("cutting off"), "{logs}");
}
