//! The revocation feed: the paged snapshot of live revocations, then the
//! SSE stream from the snapshot's cursor (SPEC §5). The stream is resumed
//! with `Last-Event-ID` after any disconnect or jwtd restart; a `reset`
//! (the resume point is gone) or a cursor jwtd does not know (its store
//! was replaced) reloads the snapshot. Every event and heartbeat marks
//! the view fresh: that is what bounds staleness.

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use jwtd_core::revocation::Revocation;
use jwtd_core::wire::{RevocationItem as Item, RevocationPage as Page};

use crate::shared::{Shared, now_ms};

/// Largest page jwtd serves.
const PAGE: u32 = 10_000;

/// Applies items to the view, logging (not failing on) any it cannot read.
fn apply(shared: &Shared, items: Vec<Item>) {
    let rs: Vec<Revocation> = items
        .iter()
        .filter_map(|item| {
            let r = item.revocation();
            if r.is_none() {
                tracing::warn!(kind = %item.kind, "revocation of an unknown kind skipped");
            }
            r
        })
        .collect();
    for (r, e) in shared.view.apply(&rs) {
        tracing::warn!(kind = %r.kind, error = %e, "revocation not indexed");
    }
}

/// Loads every live revocation, page by page, and answers the cursor to
/// stream from. The view is fresh as of the moment the walk began.
pub(crate) async fn load_snapshot(shared: &Shared) -> Result<i64, String> {
    let began = now_ms();
    let mut after: Option<String> = None;
    loop {
        let mut req = shared
            .http
            .get(format!("{}/revocations", shared.opts.url))
            .query(&[("limit", PAGE.to_string())])
            .timeout(shared.opts.request_timeout);
        if let Some(a) = &after {
            req = req.query(&[("after", a)]);
        }
        let r = shared
            .authorize(req)
            .send()
            .await
            .map_err(|e| format!("snapshot request: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("snapshot answered {}", r.status()));
        }
        let page: Page = r.json().await.map_err(|e| format!("snapshot page: {e}"))?;
        apply(shared, page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => {
                let cursor: i64 = page
                    .cursor
                    .parse()
                    .map_err(|_| format!("snapshot cursor {:?}", page.cursor))?;
                shared.view.advance_to(cursor);
                shared.view.mark_fresh(began);
                return Ok(cursor);
            }
        }
    }
}

/// How one stream connection ended.
enum End {
    /// Reconnect and resume from the view's position.
    Resume,
    /// The resume point is gone: reload the snapshot first.
    Reload,
}

/// Follows the feed for ever: stream, resume, reload as needed.
pub(crate) async fn follow(shared: &Shared) {
    let mut backoff = Duration::from_millis(100);
    let mut reload = false;
    loop {
        if reload {
            match load_snapshot(shared).await {
                Ok(_) => reload = false,
                Err(e) => {
                    tracing::warn!(error = %e, "revocation snapshot failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        match stream_once(shared, &mut backoff).await {
            Ok(End::Resume) => {}
            Ok(End::Reload) => reload = true,
            Err(e) => tracing::warn!(error = %e, "revocation feed interrupted; resuming"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One connection to the stream, from the view's position, until it ends.
async fn stream_once(shared: &Shared, backoff: &mut Duration) -> Result<End, String> {
    let from = shared.view.position();
    let req = shared
        .http
        .get(format!("{}/revocations/stream", shared.opts.url))
        .header("last-event-id", from.to_string());
    let r = shared
        .authorize(req)
        .send()
        .await
        .map_err(|e| format!("stream request: {e}"))?;
    if r.status() == reqwest::StatusCode::BAD_REQUEST {
        // A cursor beyond the log head: jwtd's store is not the one this
        // position came from.
        return Ok(End::Reload);
    }
    if !r.status().is_success() {
        return Err(format!("stream answered {}", r.status()));
    }
    *backoff = Duration::from_millis(100);
    let mut events = r.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| format!("stream: {e}"))?;
        match event.event.as_str() {
            "revocation" => {
                let item: Item = serde_json::from_str(&event.data)
                    .map_err(|e| format!("revocation event: {e}"))?;
                apply(shared, vec![item]);
                if let Ok(position) = event.id.parse::<i64>() {
                    shared.view.advance_to(position);
                }
            }
            "heartbeat" => {}
            "reset" => return Ok(End::Reload),
            other => tracing::debug!(event = other, "feed event ignored"),
        }
        // The feed is live up to now: everything committed before this
        // event was sent has been sent before it.
        shared.view.mark_fresh(now_ms());
    }
    Ok(End::Resume)
}
