//! Discovery: the JWKS (RFC 7517) and authorization-server metadata
//! (RFC 8414), so other services can verify jwtd's tokens on their own.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(metadata))
}

/// Every public key that verifies live tokens (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    responses((status = 200, body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.keys.jwks.load();
    // Short (default 60 s): a revoked key must leave verifiers' caches
    // quickly. Keys are published this long before they sign.
    let max_age = crate::config::secs(state.config.serve.jwks_max_age);
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        Json(json!({ "keys": **keys })),
    )
}

/// Authorization-server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, body = Object)))]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let iss = state.config.issuer.trim_end_matches('/');
    Json(json!({
        "issuer": state.config.issuer,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        // The admin token is accepted too, but it is no registered method.
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["refresh_token"],
        "response_types_supported": [],
        "access_token_signing_alg_values_supported": [state.config.serve.algorithm.as_str()],
    }))
}

/// JWKS document (for the OpenAPI schema; the handler serves it as JSON).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    /// Public JWKs: kty, kid, alg, use, and crv/x/y or n/e.
    keys: Vec<serde_json::Value>,
}
