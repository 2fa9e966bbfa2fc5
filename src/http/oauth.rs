//! OAuth endpoints: token revocation (RFC 7009) and introspection (RFC 7662).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jwtd_core::token::Expiry;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::authenticate_with_current_keys;
use super::client_auth::{self, PeerIp};
use super::error::{ApiError, ErrorBody, Rejection};
use super::extract::Form;
use crate::clients::Right;
use crate::revoke;
use crate::state::AppState;
use crate::tokens::hash_refresh;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(revoke_token))
        .routes(routes!(introspect))
}

/// RFC 7009 / 7662 form, with the client's credentials when it sends
/// them as `client_secret_post`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    #[schema(min_length = 1)]
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Accepted and ignored: the token is found whatever the hint says
    /// (RFC 7009 §2.1), so a wrong hint can never make a revocation miss.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

fn required(token: String) -> Result<String, ApiError> {
    if token.is_empty() {
        return Err(ApiError::InvalidRequest("token is required".into()));
    }
    Ok(token)
}

/// Revoke a token (RFC 7009): access token by jti, refresh token by session.
///
/// Answers 200 for every token, valid or not (RFC 7009 §2.2); a tampered
/// token is unknown and revokes nothing. A live token issued to another
/// client than the one authenticated (none: the public client `jwtd`) is
/// refused with 400 `unauthorized_client` and revokes nothing (§2.1).
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", security((), ("client" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "revoked, or unknown: the same answer"),
        (status = 400, description = "invalid_request: no token; unauthorized_client: the token was issued to another client", body = ErrorBody),
        (status = 401, description = "invalid_client: wrong client credentials", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<StatusCode, ApiError> {
    // Open to the public client; credentials that are sent must be right.
    let presented = client_auth::presented(&headers, form.client_id, form.client_secret)?;
    let client = client_auth::authenticate(&state, presented, ip).await?;
    // RFC 7009 §2.1: only the client a token was issued to may revoke it.
    let issued_to = |owner: &str| {
        if owner == client.id() {
            Ok(())
        } else {
            Err(ApiError::NotIssuedToClient)
        }
    };
    let token = required(form.token)?;
    let now = state.clock.now();
    // A refresh token (no dots) is never a JWT: checking it as one would
    // count every refresh-token revocation as a malformed access token in
    // `jwtd_verify_total`.
    if !jwtd_core::id::is_refresh_token(&token) {
        match authenticate_with_current_keys(&state, &token, Expiry::Enforce).await? {
            Ok(t) => {
                issued_to(&t.claims.client_id)?;
                state.revocations().token(&t, now).await?;
                tracing::info!(user_id = %t.claims.sub, "access token revoked");
            }
            // Genuine but already dead (revoked or expired), or not ours:
            // nothing to do.
            Err(Rejection::Revoked(_) | Rejection::Invalid(_)) => {}
        }
        return Ok(StatusCode::OK);
    }
    let session = state
        .store
        .session_by_refresh(&hash_refresh(&token))
        .await?;
    if let Some(s) = session.filter(|s| s.revoked_at.is_none()) {
        issued_to(&s.client_id)?;
        let which = revoke::Sessions::One(s.id.clone());
        state.revocations().sessions(&s.user_id, which, now).await?;
        tracing::info!(user_id = %s.user_id, session_id = %s.id, "refresh token revoked");
    }
    Ok(StatusCode::OK)
}

/// Describes a live access token to an admin; anything else, exactly
/// `{"active": false}` (RFC 7662 §2.2: no hint why).
/// Introspect a token (RFC 7662).
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth", security(("client" = []), ("admin" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "{active:false}, or the live token's claims", body = Introspection),
        (status = 400, description = "invalid_request: no token", body = ErrorBody),
        (status = 401, description = "invalid_client, or a wrong admin token", body = ErrorBody),
        (status = 403, description = "unauthorized_client, or admin_disabled", body = ErrorBody)))]
async fn introspect(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Json<Value>, ApiError> {
    client_auth::admin_or_client(
        &state,
        (&headers, ip),
        form.client_id,
        form.client_secret,
        Right::Introspect,
    )
    .await?;
    let token = required(form.token)?;
    if state.is_stale() {
        return Err(ApiError::Stale);
    }
    let Ok(t) = authenticate_with_current_keys(&state, &token, Expiry::Enforce).await? else {
        return Ok(Json(json!({"active": false})));
    };
    let c = &t.claims;
    Ok(Json(json!({
        "active": true,
        "sub": c.sub,
        "username": c.preferred_username,
        "iss": c.iss,
        "aud": c.aud,
        "exp": c.exp,
        "iat": c.iat,
        "jti": c.jti,
        "sid": c.sid,
        "client_id": c.client_id,
        "token_type": "Bearer",
    })))
}

/// RFC 7662 answer (for the OpenAPI schema): only `active` when false.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Introspection {
    active: bool,
    sub: Option<String>,
    username: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    sid: Option<String>,
    client_id: Option<String>,
    token_type: Option<String>,
}
