//! The revocation feed for other services: `GET /revocations` (the live
//! snapshot, paged, with the cursor to stream from) and
//! `GET /revocations/stream` (server-sent events, one per revocation, `id`
//! = cursor, resumable with `Last-Event-ID`, and a heartbeat carrying the
//! log head at least once a second).
//!
//! Every resume point up to the head stays valid: the log loses a row only
//! when the row has expired (no token it rejects is valid any more), so a
//! consumer resuming past a purged row misses nothing that matters, and
//! `event: reset` is never needed.
//!
//! A stream opened by a client ends once the client is deleted or loses
//! the `feed` right: at once when that happens on this instance, and
//! otherwise at its next check (before every batch it delivers, and at
//! every heartbeat), so nothing committed after the deletion reaches it.
//!
//! The stream reads the store's ordered revocation log, not an in-memory
//! channel: resuming from any cursor replays exactly what came after it, so
//! a consumer that reconnects loses nothing and sees nothing twice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use jwtd_core::revocation::Revocation;
use jwtd_core::wire::{RevocationItem as Item, RevocationPage as List};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::client_auth::{FeedReader, still_holds};
use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use crate::clients::Right;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stream))
}

/// One server-sent event of `/revocations/stream`, as the wire carries
/// it: its `data` is JSON text (an [`Item`] for `revocation`, `{cursor}`
/// for `heartbeat`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SseEvent {
    /// `revocation`, `heartbeat` or `reset`.
    #[schema(pattern = "^(revocation|heartbeat|reset)$")]
    event: String,
    /// The cursor (on `revocation` events).
    id: Option<String>,
    /// JSON text.
    data: String,
}

/// `GET /revocations` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A page cursor: the `next` of the previous page.
    after: Option<String>,
    /// Items per page, 1–10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

/// Default and largest page.
const DEFAULT_LIMIT: i64 = 1000;
const MAX_LIMIT: i64 = 10_000;

/// A page cursor: the walk's feed position and the last position returned,
/// as `HEAD.LAST`. Opaque to clients.
fn page_cursor(head: i64, last: i64) -> String {
    format!("{head}.{last}")
}

fn parse_page_cursor(s: &str, log_head: i64) -> Option<(i64, i64)> {
    let (head, last) = s.split_once('.')?;
    let (head, last): (i64, i64) = (head.parse().ok()?, last.parse().ok()?);
    (0 <= last && last <= head && head <= log_head).then_some((head, last))
}

/// The live revocations, one page at a time, and the cursor to stream from
/// afterwards (SPEC §5).
#[utoipa::path(get, path = "/revocations", tag = "admin", security(("client" = []), ("admin" = [])),
    params(ListQuery),
    responses((status = 200, body = List), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    _: FeedReader,
    Query(q): Query<ListQuery>,
) -> Result<Json<List>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be 1-{MAX_LIMIT}"
        )));
    }
    let log_head = state.store.log_head().await?;
    let (head, after) = match q.after.as_deref() {
        None => (log_head, 0),
        Some(c) => parse_page_cursor(c, log_head)
            .ok_or_else(|| ApiError::InvalidRequest("unknown or malformed cursor".into()))?,
    };
    // One more than the page, to know whether another follows.
    let mut rows = state
        .store
        .live_page(after, head, state.clock.now(), limit + 1)
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = match rows.last() {
        Some((last, _)) if more => Some(page_cursor(head, *last)),
        _ => None,
    };
    Ok(Json(List {
        cursor: head.to_string(),
        items: rows.iter().map(|(_, r)| Item::from(r)).collect(),
        next,
    }))
}

/// How many log rows one store read fetches.
const PAGE: i64 = 500;
/// A quiet stream sends a heartbeat this often (SPEC: at least once a
/// second), so a consumer can bound its staleness.
const HEARTBEAT: Duration = Duration::from_millis(500);

/// What a stream waited for.
enum Next {
    /// Rows were read into the buffer.
    Rows,
    /// Nothing came for a while, or a client was deleted here: time to
    /// check the stream's client and send a heartbeat.
    Quiet,
    /// The stream ends (shutdown, or a store failure the consumer
    /// recovers from by resuming).
    End,
}

/// Reads the log after `cursor` into `buf`, waiting up to [`HEARTBEAT`]
/// for something to be logged.
async fn next_rows(
    state: &AppState,
    cursor: i64,
    buf: &mut VecDeque<(i64, Revocation)>,
    watch: &mut Watch,
) -> Next {
    // Register for wake-ups before reading, so a revocation that lands
    // between the read and the wait is not slept through.
    let notified = state.enforcement.events.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    match state.store.revocations_since(cursor, PAGE).await {
        Ok(rows) if !rows.is_empty() => {
            buf.extend(rows);
            Next::Rows
        }
        Ok(_) => tokio::select! {
            woken = tokio::time::timeout(HEARTBEAT, notified) => {
                if woken.is_ok() { Next::Rows } else { Next::Quiet }
            }
            _ = watch.shutting_down.changed() => Next::End,
            _ = watch.removals.changed() => Next::Quiet,
        },
        Err(e) => {
            tracing::warn!(error = %e, "revocation stream: store read failed");
            Next::End
        }
    }
}

/// What a stream watches besides the log.
struct Watch {
    shutting_down: tokio::sync::watch::Receiver<bool>,
    /// Client deletions made on this instance.
    removals: tokio::sync::watch::Receiver<u64>,
    /// The client that opened the stream (`None`: the admin token).
    client: Option<String>,
}

impl Watch {
    /// Whether the stream may go on: not shutting down, and its client
    /// still exists with the feed right. Checked before every batch the
    /// stream delivers and at every heartbeat, so nothing committed after
    /// a client's deletion (here, by the CLI or on another instance)
    /// reaches its streams.
    async fn may_go_on(&mut self, state: &AppState) -> bool {
        if *self.shutting_down.borrow_and_update() {
            return false;
        }
        self.removals.mark_unchanged();
        let Some(id) = &self.client else {
            return true;
        };
        match still_holds(state, id, Right::Feed).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!(client_id = %id, "feed stream ended: client deleted or right removed");
                false
            }
            Err(_) => false,
        }
    }
}

/// Server-sent events, one per revocation; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/revocations/stream", tag = "admin", security(("client" = []), ("admin" = [])),
    params(("Last-Event-ID" = Option<String>, Header, pattern = "^[0-9]+$", description = "cursor to resume after")),
    responses((status = 200, description = "Server-sent events: `revocation` (id: its cursor; data: an Item as JSON), \
`heartbeat` at least once a second (data: {\"cursor\": the log head}), `reset` when the resume point is gone",
            content_type = "text/event-stream", body = SseEvent),
        (status = 400, body = ErrorBody)))]
async fn stream(
    State(state): State<AppState>,
    reader: FeedReader,
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
    if cursor > state.store.log_head().await? {
        return Err(ApiError::InvalidRequest(
            "Last-Event-ID is beyond the log head".into(),
        ));
    }
    let watch = Watch {
        // Shutdown ends every stream at once; the consumer resumes from
        // its last id elsewhere or after the restart.
        shutting_down: state.shutting_down.subscribe(),
        removals: state.enforcement.removals.subscribe(),
        client: reader.client,
    };
    let init = (state, cursor, VecDeque::<(i64, Revocation)>::new(), watch);
    // The cursor is the last event delivered; the log is read again only
    // once the buffer is drained, from there.
    let events =
        futures_util::stream::unfold(init, |(state, cursor, mut buf, mut watch)| async move {
            loop {
                // A deletion here stops even a batch already read.
                if watch.removals.has_changed().unwrap_or(true) && !watch.may_go_on(&state).await {
                    return None;
                }
                if let Some((seq, r)) = buf.pop_front() {
                    let event = Event::default()
                        .event("revocation")
                        .id(seq.to_string())
                        .json_data(Item::from(&r))
                        .unwrap_or_else(|_| Event::default().comment("unencodable"));
                    return Some((Ok(event), (state, seq, buf, watch)));
                }
                if *watch.shutting_down.borrow_and_update() {
                    return None;
                }
                match next_rows(&state, cursor, &mut buf, &mut watch).await {
                    Next::End => return None,
                    Next::Rows => {
                        if !buf.is_empty() && !watch.may_go_on(&state).await {
                            return None;
                        }
                    }
                    Next::Quiet => {
                        if !watch.may_go_on(&state).await {
                            return None;
                        }
                        // Nothing after the cursor for a while: the consumer
                        // has the log up to its head, and is told so.
                        let beat = Event::default()
                            .event("heartbeat")
                            .data(format!(r#"{{"cursor":"{cursor}"}}"#));
                        return Some((Ok(beat), (state, cursor, buf, watch)));
                    }
                }
            }
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
