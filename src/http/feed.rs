//! The revocation feed for other services: `GET /revocations` (live list
//! with a cursor) and `GET /revocations/stream` (server-sent events, one per
//! revocation, `id` = cursor, resumable with `Last-Event-ID`).
//!
//! The stream reads the store's ordered revocation log, not an in-memory
//! channel: resuming from any cursor replays exactly what came after it, so
//! a consumer that reconnects loses nothing and sees nothing twice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use jwtd_core::revocation::Revocation;
use serde::Serialize;

use super::admin::Admin;
use super::error::{ApiError, ErrorBody};
use crate::app::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/revocations", get(list))
        .route("/revocations/stream", get(stream))
}

/// One revocation as clients see it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Item {
    kind: &'static str,
    value: String,
    revoked_at: i64,
    expires_at: i64,
}

impl From<Revocation> for Item {
    fn from(r: Revocation) -> Self {
        Self {
            kind: r.kind.as_str(),
            value: r.value,
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
        }
    }
}

/// `GET /revocations` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct List {
    cursor: String,
    items: Vec<Item>,
}

/// Live revocations, and the cursor to stream from.
#[utoipa::path(get, path = "/revocations", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = List), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, _: Admin) -> Result<Json<List>, ApiError> {
    let (live, seq) = state.store.live_revocations(state.clock.now()).await?;
    Ok(Json(List {
        cursor: seq.to_string(),
        items: live.into_iter().map(Item::from).collect(),
    }))
}

/// How many log rows one store read fetches.
const PAGE: i64 = 500;
/// Upper bound on how long a new revocation by another process waits before
/// a stream notices it (local ones wake streams at once).
const POLL: Duration = Duration::from_secs(1);

/// Server-sent events, one per revocation; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/revocations/stream", tag = "admin", security(("admin" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "cursor to resume after")),
    responses((status = 200, description = "event: revocation, id: cursor, data: Item", content_type = "text/event-stream", body = Item),
        (status = 401, body = ErrorBody)))]
async fn stream(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let cursor = match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::InvalidRequest("Last-Event-ID is not a cursor".into()))?,
    };
    let init = (state, cursor, VecDeque::<(i64, Revocation)>::new());
    // The cursor is the last event delivered; the log is read again only
    // once the buffer is drained, from there.
    let events = futures_util::stream::unfold(init, |(state, cursor, mut buf)| async move {
        loop {
            if let Some((seq, r)) = buf.pop_front() {
                let event = Event::default()
                    .event("revocation")
                    .id(seq.to_string())
                    .json_data(Item::from(r))
                    .unwrap_or_else(|_| Event::default().comment("unencodable"));
                return Some((Ok(event), (state, seq, buf)));
            }
            // Shutdown ends every stream at once; the consumer resumes from
            // its last id elsewhere or after the restart.
            let mut shutting_down = state.shutting_down.subscribe();
            if *shutting_down.borrow_and_update() {
                return None;
            }
            // Register for wake-ups before reading, so a revocation that
            // lands between the read and the wait is not slept through.
            let notified = state.revocation_events.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match state.store.revocations_since(cursor, PAGE).await {
                Ok(rows) if !rows.is_empty() => buf.extend(rows),
                Ok(_) => {
                    tokio::select! {
                        _ = tokio::time::timeout(POLL, notified) => {}
                        _ = shutting_down.changed() => return None,
                    }
                }
                Err(e) => {
                    // End the stream; the client resumes from its last id.
                    tracing::warn!(error = %e, "revocation stream: store read failed");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
