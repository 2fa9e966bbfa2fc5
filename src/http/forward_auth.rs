//! `/auth/verify`: forward authentication for reverse proxies (nginx
//! `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`). The proxy sends
//! the client's `Authorization` header; 200 lets the request through with the
//! caller's identity in headers, 401 stops it. Any method is accepted,
//! because proxies forward the original one.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::auth::AuthContext;
use crate::app::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    // Envoy's ext_authz appends the original path to `path_prefix`, so
    // anything under /auth/verify/ is the same check.
    Router::new()
        .route("/auth/verify", any(verify))
        .route("/auth/verify/{*original_path}", any(verify))
}

/// Forward authentication (any method).
#[utoipa::path(get, path = "/auth/verify", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "valid; identity in X-Auth-Subject, X-Auth-Username, X-Auth-Session",
            headers(("X-Auth-Subject" = String), ("X-Auth-Username" = String), ("X-Auth-Session" = String))),
        (status = 401, body = super::error::ErrorBody)))]
async fn verify(auth: AuthContext) -> Response {
    let c = &auth.token.claims;
    let mut resp = StatusCode::OK.into_response();
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-auth-subject", &c.sub),
        ("x-auth-username", &c.preferred_username),
        ("x-auth-session", &c.sid),
    ] {
        // All three are ids or usernames from our own alphabet, always
        // valid header values; skip rather than fail if one ever is not.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    resp
}
