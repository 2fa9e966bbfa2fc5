//! `/auth/verify`: forward authentication for reverse proxies (nginx
//! `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`). The proxy sends
//! the client's `Authorization` header; 200 lets the request through with the
//! caller's identity in headers, 401 stops it. Every usual method is
//! accepted (and documented), because proxies forward the original one.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::AuthContext;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    // Envoy's ext_authz appends the original path to `path_prefix`, so
    // anything under /auth/verify/ is the same check (described under
    // /auth/verify: OpenAPI has no catch-all path parameter).
    let methods = axum::routing::MethodFilter::GET
        .or(axum::routing::MethodFilter::POST)
        .or(axum::routing::MethodFilter::PUT)
        .or(axum::routing::MethodFilter::PATCH)
        .or(axum::routing::MethodFilter::DELETE)
        .or(axum::routing::MethodFilter::OPTIONS);
    OpenApiRouter::new()
        .routes(routes!(verify))
        .route("/auth/verify/{*original_path}", on(methods, verify))
}

/// Forward authentication: the proxy's request, with its original method
/// (the same check answers under `/auth/verify/<original path>`).
#[utoipa::path(method(get, head, post, put, patch, delete, options), path = "/auth/verify", tag = "sessions", security(("bearer" = [])),
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
