//! The HTTP API (SPEC §5): one router per resource, merged here, and the
//! one place where layers are applied.

mod admin;
mod auth;
mod bodies;
mod client_auth;
mod clients;
mod error;
mod extract;
mod feed;
mod forward_auth;
mod json;
mod keys;
mod login;
mod logout;
mod oauth;
mod openapi;
mod ops;
mod refresh;
mod sessions;
mod track;

use axum::Router;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{AuthContext, authenticate, authenticate_parts, bearer};
pub use error::{ApiError, Rejection};

use crate::state::AppState;

pub use extract::MAX_BODY_BYTES;

/// The whole API.
///
/// One layer (`Router::layer` wraps every route and the fallback, after
/// routing, so it sees the matched route pattern): request metrics, which
/// time and count every answer. The 16 KiB body limit is not a layer: the
/// body extractors (`extract.rs`) are the only readers of bodies and stop
/// at [`MAX_BODY_BYTES`] themselves, which spares every request (bodiless
/// ones included) a layer's boxing and an extension.
pub fn router(state: AppState) -> Router {
    // Each module's routes come from its handlers' `#[utoipa::path]`
    // (method and path), so `/openapi.json` lists exactly what is served.
    let (router, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(login::router())
        .merge(refresh::router())
        .merge(logout::router())
        .merge(sessions::router())
        .merge(ops::router())
        .merge(admin::router())
        .merge(clients::router())
        .merge(keys::router())
        .merge(oauth::router())
        .merge(forward_auth::router())
        .merge(feed::router())
        .merge(openapi::router())
        .split_for_parts();
    openapi::publish(&api);
    router
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(track::TrackRequestsLayer)
        .with_state(state)
}
