//! The revocation feed: the live list, and the SSE stream resumed with
//! `Last-Event-ID` after a disconnect in the middle of a burst.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{ADMIN_TOKEN, TestApp, body};

/// One parsed server-sent event: (id, data).
type Event = (i64, serde_json::Value);

/// Reads events from an open SSE response until `n` have arrived.
async fn read_events(resp: &mut reqwest::Response, n: usize, buf: &mut String) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("stream stalled after {} events", out.len()))
            .expect("the stream goes on")
            .unwrap_or_else(|| panic!("stream ended"));
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
            }
        }
    }
    out
}

async fn open_stream(app: &TestApp, last: Option<i64>) -> reqwest::Response {
    let mut req = app
        .client
        .get(format!("{}/revocations/stream", app.url))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(id) = last {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let r = req.send().await.expect("the request is sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("a visible-ASCII header")
            .starts_with("text/event-stream")
    );
    r
}

#[tokio::test]
async fn stream_resumed_with_last_event_id_loses_nothing_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    app.register("burst").await;
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(app.login("burst").await);
    }
    let mut stream = open_stream(&app, None).await;
    // A burst of revocations while the consumer reads.
    let burst = {
        let (client, url) = (app.client.clone(), app.url.clone());
        let access: Vec<String> = tokens.iter().map(|t| t.access.clone()).collect();
        tokio::spawn(async move {
            for a in access {
                let r = client
                    .post(format!("{url}/oauth/revoke"))
                    .form(&[("token", a)])
                    .send()
                    .await;
                assert_eq!(r.map(|r| r.status()).ok(), Some(StatusCode::OK));
            }
        })
    };
    let mut buf = String::new();
    let first = read_events(&mut stream, 15, &mut buf).await;
    drop(stream); // disconnect in the middle of the burst
    let _ = burst.await;
    let last = first.last().map(|e| e.0).unwrap_or(0);
    let mut resumed = open_stream(&app, Some(last)).await;
    let rest = read_events(&mut resumed, 40 - first.len(), &mut String::new()).await;

    let all: Vec<Event> = first.into_iter().chain(rest).collect();
    let ids: Vec<i64> = all.iter().map(|e| e.0).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not increasing: {ids:?}"
    );
    let values: HashSet<String> = all
        .iter()
        .map(|e| e.1["value"].as_str().expect("value is a string").to_owned())
        .collect();
    assert_eq!(values.len(), 40, "every revocation exactly once");
    let jtis: HashSet<String> = tokens
        .iter()
        .map(|t| {
            let (_, c) = jwtd::core::token::decode_unverified(&t.access).expect("a decodable JWT");
            c["jti"].as_str().expect("jti is a string").to_owned()
        })
        .collect();
    assert_eq!(values, jtis);
    for (_, e) in &all {
        assert_eq!(e["kind"], "token");
        assert!(e["expires_at"].as_i64() > e["revoked_at"].as_i64());
    }
    // Nothing more is pending: a new revocation is the next event.
    let extra = app.user("late").await;
    app.logout(&extra.access, "local").await;
    let next = read_events(&mut resumed, 1, &mut String::new()).await;
    assert_eq!(next[0].1["kind"], "session");
    assert_eq!(next[0].1["value"], extra.session.as_str());
}

#[tokio::test]
async fn list_returns_live_revocations_and_a_cursor() {
    let app = TestApp::spawn().await;
    let t = app.user("listed").await;
    app.logout(&t.access, "global").await;
    let r = app.admin_get("/revocations").await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = body(r).await;
    let items = list["items"].as_array().cloned().expect("a list");
    let kinds: HashSet<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert_eq!(kinds, HashSet::from(["session", "user"]));
    assert!(list["cursor"].is_string());
    // The cursor resumes the stream after everything listed.
    let cursor: i64 = list["cursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(-1);
    let mut s = open_stream(&app, Some(cursor)).await;
    let t2 = app.user("listed2").await;
    app.logout(&t2.access, "local").await;
    let next = read_events(&mut s, 1, &mut String::new()).await;
    assert_eq!(next[0].1["value"], t2.session.as_str());
    assert_eq!(
        app.get_auth("/revocations", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Pages through `GET /revocations` with `limit`; returns the walk's
/// cursor and every item's value.
async fn walk(
    app: &TestApp,
    limit: usize,
    mut between: impl AsyncFnMut(),
) -> (String, Vec<String>) {
    let mut after: Option<String> = None;
    let mut cursor: Option<String> = None;
    let mut values = Vec::new();
    loop {
        let mut path = format!("/revocations?limit={limit}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let r = app.admin_get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let page = body(r).await;
        let items = page["items"].as_array().cloned().expect("a list");
        assert!(items.len() <= limit);
        values.extend(
            items
                .iter()
                .filter_map(|i| i["value"].as_str().map(str::to_owned)),
        );
        let this = page["cursor"].as_str().map(str::to_owned);
        assert!(this.is_some(), "{page}");
        if cursor.is_some() {
            assert_eq!(this, cursor, "the cursor changed during the walk");
        }
        cursor = this;
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => {
                assert!(page["next"].is_null(), "{page}");
                break;
            }
        }
        between().await;
    }
    (cursor.expect("every page has a cursor"), values)
}

#[tokio::test]
async fn the_snapshot_pages_and_a_stream_from_its_cursor_misses_nothing() {
    let app = TestApp::spawn().await;
    app.register("paged").await;
    let mut revoked = Vec::new();
    for _ in 0..5 {
        let t = app.login("paged").await;
        app.logout(&t.access, "local").await;
        revoked.push(t.session);
    }
    // Unpaged and paged walks agree.
    let (_, all) = walk(&app, 10_000, async || {}).await;
    let (_, paged) = walk(&app, 2, async || {}).await;
    assert_eq!(all, paged);
    assert_eq!(all, revoked);
    // Revocations made during a walk are in the stream from its cursor.
    let mut during = Vec::new();
    let (cursor, seen) = walk(&app, 1, async || {
        let t = app.login("paged").await;
        app.logout(&t.access, "local").await;
        during.push(t.session);
    })
    .await;
    let cursor: i64 = cursor.parse().unwrap_or(-1);
    let mut stream = open_stream(&app, Some(cursor)).await;
    let events = read_events(&mut stream, during.len(), &mut String::new()).await;
    let streamed: HashSet<String> = events
        .iter()
        .filter_map(|(_, d)| d["value"].as_str().map(str::to_owned))
        .collect();
    let seen: HashSet<String> = seen.into_iter().collect();
    for s in revoked.iter().chain(&during) {
        assert!(seen.contains(s) || streamed.contains(s), "{s} missed");
    }
}

#[tokio::test]
async fn bad_cursors_and_limits_are_400() {
    let app = TestApp::spawn().await;
    let t = app.user("cursors").await;
    app.logout(&t.access, "local").await;
    for path in [
        "/revocations?limit=0",
        "/revocations?limit=10001",
        "/revocations?limit=x",
        "/revocations?after=abc",
        "/revocations?after=5",
        "/revocations?after=999.1",
        "/revocations?after=1.2",
    ] {
        let r = app.admin_get(path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body(r).await["error"], "invalid_request", "{path}");
    }
    let r = app
        .client
        .get(format!("{}/revocations/stream", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("Last-Event-ID", "999")
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a resume point beyond the head"
    );
}

#[tokio::test]
async fn a_quiet_stream_sends_the_log_head_at_least_once_a_second() {
    let app = TestApp::spawn().await;
    let t = app.user("quiet").await;
    app.logout(&t.access, "local").await;
    let head = body(app.admin_get("/revocations").await).await["cursor"].clone();
    let mut stream = open_stream(&app, None).await;
    let mut text = String::new();
    let mut beats = 0;
    while beats < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat within 5 s"))
            .expect("the stream goes on")
            .unwrap_or_else(|| panic!("stream ended"));
        text.push_str(&String::from_utf8_lossy(&chunk));
        beats = text.matches("event: heartbeat").count();
    }
    let data = text
        .split("event: heartbeat")
        .nth(1)
        .and_then(|b| b.lines().find_map(|l| l.strip_prefix("data:")))
        .expect("a heartbeat with data");
    let beat: serde_json::Value = serde_json::from_str(data.trim()).expect("parses");
    assert_eq!(beat["cursor"], head, "{text}");
}
