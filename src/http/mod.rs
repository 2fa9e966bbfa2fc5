//! The HTTP API (SPEC §5): one router per resource, merged here, and the
//! one place where layers are applied.

mod auth;
mod error;
mod extract;
mod login;
mod logout;
mod ops;
mod sessions;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use auth::{AuthContext, authenticate, authenticate_parts, bearer};
pub use error::{ApiError, Rejection};

use crate::app::AppState;

/// Largest accepted request body (SPEC §5); larger gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The whole API.
///
/// Layers: the body limit applies to every route, so no handler ever buffers
/// more than 16 KiB; extractors turn the overflow into our 413 shape.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(login::router())
        .merge(logout::router())
        .merge(sessions::router())
        .merge(ops::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
