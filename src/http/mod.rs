//! The HTTP API (SPEC §5): one router per resource, merged here, and the
//! one place where layers are applied.

mod admin;
mod auth;
mod error;
mod extract;
mod feed;
mod forward_auth;
mod keys;
mod login;
mod logout;
mod oauth;
mod openapi;
mod ops;
mod sessions;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use auth::{AuthContext, authenticate, authenticate_parts, bearer, token_ref};
pub use error::{ApiError, Rejection};

use crate::app::AppState;

/// Largest accepted request body (SPEC §5); larger gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The whole API.
///
/// Layers (`Router::layer` wraps every route and the fallback, after
/// routing, so the metrics middleware sees the matched route pattern):
/// the body limit, so no handler ever buffers more than 16 KiB (extractors
/// turn the overflow into our 413 shape); then request metrics, outermost,
/// so they time and count every answer including 413s.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(login::router())
        .merge(logout::router())
        .merge(sessions::router())
        .merge(ops::router())
        .merge(admin::router())
        .merge(keys::router())
        .merge(oauth::router())
        .merge(forward_auth::router())
        .merge(feed::router())
        .merge(openapi::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::telemetry::track_requests))
        .with_state(state)
}
