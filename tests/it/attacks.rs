//! The holes an outside attacker found (issue #20), each replayed as it
//! was found: stalled bodies and unread answers holding connections,
//! hyper's own empty-bodied errors, a deleted client's feed, client and
//! admin credentials guessed without limit, a token revoked by another
//! client, and a refresh grace counted in whole seconds.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::TestApp;

fn addr(app: &TestApp) -> std::net::SocketAddr {
    app.url
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", app.url))
}

/// Everything the server sends on `s` until it closes the connection or
/// `limit` passes; `None` if it was still open then.
async fn until_closed(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    None
}

/// A connection whose receive buffer is small, so that a client that
/// stops reading fills it (and the server's send buffer) quickly.
async fn small_window(app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    socket.connect(addr(app)).await.expect("connects")
}

/// Whether a fresh connection gets `/healthz` answered within `limit`.
async fn healthz_answers(app: &TestApp, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let r = app
            .client
            .get(format!("{}/healthz", app.url))
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == StatusCode::OK) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The JSON body of a raw response, and its status.
fn status_and_body(raw: &str) -> (u16, serde_json::Value) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw:?}"));
    (status, body)
}

#[tokio::test]
async fn stalled_bodies_get_408_and_give_their_connection_back() {
    const SLOTS: usize = 8;
    let app = TestApp::spawn_with(|c| {
        c.max_connections = SLOTS;
        c.serve.body_read_timeout = Duration::from_secs(2);
    })
    .await;
    // The attack as found: a complete head announcing a body that never
    // comes (Content-Length), or a chunked body that stalls; one per slot.
    let heads: [&[u8]; 2] = [
        b"POST /login HTTP/1.1\r\nHost: jwtd\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: jwtd\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"use\r\n",
    ];
    let mut stalled = Vec::new();
    for i in 0..SLOTS {
        let mut s = TcpStream::connect(addr(&app)).await.expect("connects");
        s.write_all(heads[i % 2]).await.expect("the head is sent");
        stalled.push(s);
    }
    for (i, s) in stalled.iter_mut().enumerate() {
        let raw = until_closed(s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("stalled body {i} kept its connection"));
        let (status, body) = status_and_body(&raw);
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body["error"], "request_timeout", "{raw}");
    }
    assert!(
        healthz_answers(&app, Duration::from_secs(5)).await,
        "the slots were not given back"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_closed() {
    const SLOTS: usize = 4;
    let app = TestApp::spawn_with(|c| {
        c.max_connections = SLOTS;
        c.serve.idle_timeout = Duration::from_secs(1);
    })
    .await;
    // Pipelined requests for a large document, never read: the socket's
    // buffers fill and the server's writes stop progressing.
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: jwtd\r\n\r\n".repeat(4000);
    let mut held = Vec::new();
    for _ in 0..SLOTS {
        let (mut reader, mut writer) = small_window(&app).await.into_split();
        let request = request.clone();
        // The writer blocks once the server stops reading; it is not
        // waited for.
        tokio::spawn(async move {
            let _ = writer.write_all(&request).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        held.push(tokio::spawn(async move {
            // Not reading for a while is the attack; then the test reads
            // what there is, to see the connection end.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let mut buf = vec![0u8; 1 << 16];
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let read = tokio::time::timeout(Duration::from_secs(1), reader.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return true;
                }
            }
            false
        }));
    }
    assert!(
        healthz_answers(&app, Duration::from_secs(10)).await,
        "connections that never read kept every slot"
    );
    for h in held {
        assert!(
            h.await.expect("the reader finishes"),
            "a connection whose answers were never read stayed open"
        );
    }
}

#[tokio::test]
async fn errors_hyper_answers_itself_have_the_json_shape() {
    let app = TestApp::spawn().await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: jwtd\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: jwtd\r\n{}\r\n",
        (0..120)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: [(&[u8], u16, &str); 4] = [
        (b"GARBAGE\r\n\r\n", 400, "invalid_request"),
        (
            b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
            400,
            "invalid_request",
        ),
        (long_uri.as_bytes(), 414, "uri_too_long"),
        (many_headers.as_bytes(), 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        let mut s = TcpStream::connect(addr(&app)).await.expect("connects");
        s.write_all(request).await.expect("sent");
        let raw = until_closed(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer to {status}"));
        let (got, body) = status_and_body(&raw);
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{raw}");
        assert!(
            raw.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{raw}"
        );
    }
    // Ordinary answers are untouched, on a connection kept alive.
    let mut s = TcpStream::connect(addr(&app)).await.expect("connects");
    for _ in 0..2 {
        s.write_all(b"GET /nope HTTP/1.1\r\nHost: jwtd\r\n\r\n")
            .await
            .expect("sent");
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        let raw = String::from_utf8_lossy(&buf[..n]);
        assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
        assert!(raw.contains("not_found"), "{raw}");
    }
}

#[tokio::test]
async fn a_feed_consumer_that_stops_reading_is_closed() {
    use jwtd_core::id::Id128;
    use jwtd_core::revocation::{Revocation, RevocationKind};
    const SLOTS: usize = 3;
    let app = TestApp::spawn_with(|c| {
        c.max_connections = SLOTS;
        c.serve.idle_timeout = Duration::from_secs(1);
    })
    .await;
    // A log long enough that replaying it (some 3.6 MB) fills the
    // socket buffers, which grow to 4 MiB here.
    let now = app.clock.now();
    let backlog: Vec<Revocation> = (0..30_000)
        .map(|_| Revocation {
            kind: RevocationKind::Token,
            value: Id128::random().to_string(),
            revoked_at: now,
            expires_at: now + 3600,
        })
        .collect();
    app.state
        .store
        .insert_revocations(&backlog)
        .await
        .expect("the backlog is stored");
    let request = format!(
        "GET /revocations/stream HTTP/1.1\r\nHost: jwtd\r\nAuthorization: Bearer {}\r\n\r\n",
        crate::helpers::ADMIN_TOKEN
    );
    let mut held = Vec::new();
    for _ in 0..SLOTS {
        let mut s = small_window(&app).await;
        s.write_all(request.as_bytes()).await.expect("sent");
        held.push(s);
    }
    // The stream is the server writing, so it stays open only while its
    // writes progress: these consumers never read.
    assert!(
        healthz_answers(&app, Duration::from_secs(10)).await,
        "feed consumers that stopped reading kept every slot"
    );
    for mut s in held {
        let mut buf = vec![0u8; 1 << 16];
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "a stalled feed consumer stayed connected");
    }
}

#[tokio::test]
async fn the_refresh_grace_ends_on_the_millisecond() {
    let app = TestApp::spawn_with(|c| c.serve.refresh_reuse_grace = Duration::from_secs(1)).await;
    let t = app.user("graceful").await;
    // Early in a second, so that a replay 1.5 s later is, counted in whole
    // seconds, only one second after the rotation.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    let to_next = Duration::from_millis(1050 - u64::from(since_epoch.subsec_millis()));
    tokio::time::sleep(to_next).await;
    let (status, next) = app.refresh(&t.refresh).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = app.refresh(&t.refresh).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a replay 1.5 s after the rotation passed a 1 s grace"
    );
    // Outside the grace it is theft: the session is gone.
    let next = next.expect("the rotation answered tokens");
    assert_eq!(app.protected(&next.access).await, StatusCode::UNAUTHORIZED);
}

#[cfg(unix)]
#[tokio::test]
async fn store_files_are_private_wherever_they_live() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    // The attack's setting: a database outside data_dir, in a directory
    // every local user may read, under umask 022.
    let dir = tempfile::tempdir().expect("a temp dir");
    let public = dir.path().join("srv");
    std::fs::create_dir(&public).expect("created");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let db = public.join("jwtd.db");
    let url = format!("sqlite://{}", db.display());
    let data = dir.path().join("data").display().to_string();
    let mut args = vec!["--database-url", &url, "--data-dir", &data];
    let server_args = crate::helpers::server_args("1024", "1");
    args.extend(server_args.iter().map(String::as_str));
    let files = ["jwtd.db", "jwtd.db-wal", "jwtd.db-shm"].map(|f| public.join(f));
    let server = crate::helpers::Binary::start_under_umask("022", &args).await;
    let client = reqwest::Client::new();
    let creds = serde_json::json!({"username": "private", "password": crate::helpers::PASSWORD});
    crate::helpers::post_value(&client, &format!("{}/register", server.url), &creds).await;
    for f in &files {
        assert_eq!(mode(f), 0o600, "{} under umask 022", f.display());
    }
    server.kill9().await;
    // A store left readable (an older release, a careless copy) is
    // tightened at start, with a warning.
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let server = crate::helpers::Binary::start_under_umask("022", &args).await;
    for f in &files {
        assert_eq!(mode(f), 0o600, "{} was not tightened", f.display());
    }
    let logs = server.logs();
    assert!(logs.contains("readable by others"), "{logs}");
    assert!(logs.contains("jwtd.db-wal"), "{logs}");
    server.kill9().await;
}

/// Reads an SSE response until it ends or `limit` passes: what it carried
/// and whether it ended.
async fn read_stream(r: &mut reqwest::Response, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut text = String::new();
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), r.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None) | Err(_)) => return (text, true),
            Err(_) => {}
        }
    }
    (text, false)
}

#[tokio::test]
async fn deleting_a_client_ends_its_feed_streams() {
    use crate::clients::admin_create;
    let app = TestApp::spawn().await;
    let open = |c: &crate::clients::Creds| {
        app.client
            .get(format!("{}/revocations/stream", app.url))
            .basic_auth(&c.id, Some(&c.secret))
            .send()
    };
    let by_api = admin_create(&app, "deleted-by-api", false, true).await;
    let by_cli = admin_create(&app, "deleted-by-cli", false, true).await;
    let users = [app.user("feed-1").await, app.user("feed-2").await];

    // Deleted through the admin API: the stream ends at once.
    let mut stream = open(&by_api).await.expect("sent");
    assert_eq!(stream.status(), StatusCode::OK);
    let (text, ended) = read_stream(&mut stream, Duration::from_millis(1200)).await;
    assert!(!ended && text.contains("event: heartbeat"), "{text}");
    let r = app
        .client
        .delete(format!("{}/admin/clients/{}", app.url, by_api.id))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.logout(&users[0].access, "local").await;
    let (text, ended) = read_stream(&mut stream, Duration::from_secs(5)).await;
    assert!(ended, "the deleted client's stream stayed open: {text}");
    assert!(!text.contains("event: revocation"), "{text}");

    // Deleted by the CLI (another process): found by the stream's own
    // check before it delivers the next revocation.
    let mut stream = open(&by_cli).await.expect("sent");
    assert_eq!(stream.status(), StatusCode::OK);
    let (text, _) = read_stream(&mut stream, Duration::from_millis(1200)).await;
    assert!(text.contains("event: heartbeat"), "{text}");
    let out = app.cli(&["client", "delete", &by_cli.id], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    app.logout(&users[1].access, "local").await;
    let (text, ended) = read_stream(&mut stream, Duration::from_secs(5)).await;
    assert!(ended, "the deleted client's stream stayed open: {text}");
    assert!(!text.contains("event: revocation"), "{text}");
}

#[tokio::test]
async fn guessing_client_and_admin_secrets_is_limited() {
    use crate::clients::{Creds, admin_create, post_basic};
    const MAX: usize = 20; // client_auth_max_failures' default
    let app = TestApp::spawn().await;
    let target = admin_create(&app, "target", true, true).await;
    let bystander = admin_create(&app, "bystander", true, true).await;
    let t = app.user("limited").await;
    let wrong = Creds {
        id: target.id.clone(),
        secret: "not the secret".into(),
    };
    // Failures at any of the endpoints that take a client count together.
    let statuses = async |c: &Creds| {
        let form = [("token", t.access.as_str())];
        let stream = app
            .client
            .get(format!("{}/revocations", app.url))
            .basic_auth(&c.id, Some(&c.secret))
            .send()
            .await
            .expect("sent");
        let token_form = [("grant_type", "refresh_token"), ("refresh_token", "x")];
        let login = app
            .post_json(
                "/login",
                serde_json::json!({"username": "limited", "password": crate::helpers::PASSWORD,
                    "client_id": c.id, "client_secret": c.secret}),
            )
            .await;
        [
            post_basic(&app, "/oauth/introspect", c, &form).await,
            post_basic(&app, "/oauth/revoke", c, &form).await,
            post_basic(&app, "/oauth/token", c, &token_form).await,
            login,
            stream,
        ]
    };
    for _ in 0..MAX / 5 {
        for r in statuses(&wrong).await {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    // Past the limit every endpoint answers 429, the right secret too.
    for c in [&wrong, &target] {
        for r in statuses(c).await {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{}", r.url());
            let retry: i64 = r.headers()["retry-after"]
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("a Retry-After in seconds");
            assert!(retry > 1, "{retry}");
            assert_eq!(
                r.json::<serde_json::Value>().await.expect("JSON")["error"],
                "too_many_attempts"
            );
        }
    }
    // Another client from the same address is not held up.
    let r = post_basic(
        &app,
        "/oauth/introspect",
        &bystander,
        &[("token", &t.access)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // An unknown id is counted and answered exactly as a wrong secret, and
    // a burst gets no more checks than the limit once one failure is in.
    let ghost = Creds {
        id: "no-such-client".into(),
        secret: "whatever".into(),
    };
    let first = post_basic(&app, "/oauth/introspect", &ghost, &[("token", "t")]).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let burst = futures_util::future::join_all(
        (0..300).map(|_| post_basic(&app, "/oauth/introspect", &ghost, &[("token", "t")])),
    )
    .await;
    let refused = burst
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let limited = burst
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + limited, 300);
    assert!(refused < MAX, "{refused} secrets were checked in a burst");

    // The admin token: the same limit, keyed apart from every client.
    let admin = async |token: &str| {
        app.client
            .get(format!("{}/admin/clients", app.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent")
            .status()
    };
    for _ in 0..MAX {
        assert_eq!(admin("wrong admin token!").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        admin("wrong admin token!").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        admin(crate::helpers::ADMIN_TOKEN).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the right token is refused too while the limit holds"
    );
}
