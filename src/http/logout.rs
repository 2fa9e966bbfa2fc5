//! `POST /logout`: the seed's endpoint, done right.
//!
//! The token may come in `Authorization: Bearer` or in the body `{token}`
//! (as in the seed). It must be genuine, but may have expired: a user whose
//! access token lapsed can still end the session. A token that is already
//! revoked gets 200 and changes nothing, so retries are harmless.

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::HeaderMap;
use jwtd_core::token::{Expiry, TokenError};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::{authenticate_with_current_keys, bearer};
use super::error::{ApiError, ErrorBody, Rejection};
use super::extract::{OptionalJson, Query};
use crate::revoke;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logout))
}

/// Which sessions a logout ends.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The caller's session.
    #[default]
    Local,
    /// Every other session of the user.
    Others,
    /// Every session of the user, and every token issued before now.
    Global,
}

/// Optional JSON body.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct LogoutBody {
    token: Option<String>,
    scope: Option<Scope>,
}

/// Query string.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    scope: Option<Scope>,
}

/// `200` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogoutResponse {
    message: &'static str,
    scope: Scope,
    sessions_revoked: u64,
}

/// End the caller's session, their other sessions, or all of them.
#[utoipa::path(post, path = "/logout", tag = "sessions", params(LogoutQuery),
    request_body(content = Option<LogoutBody>, description = "optional; the token may come here instead of the Authorization header"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "logged out (also when already revoked)", body = LogoutResponse),
        (status = 400, description = "invalid_token or invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized: no token", body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LogoutQuery>,
    OptionalJson(body): OptionalJson<LogoutBody>,
) -> Result<AxumJson<LogoutResponse>, ApiError> {
    let body = body.unwrap_or_default();
    let scope = match (q.scope, body.scope) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::InvalidRequest(
                "scope differs between query and body".into(),
            ));
        }
        (a, b) => a.or(b).unwrap_or_default(),
    };
    let from_header = match bearer(&headers) {
        Ok(t) => t,
        // A malformed Authorization header is a bad token, answered as the
        // seed does: 400.
        Err(_) => return Err(ApiError::BadLogoutToken("malformed token")),
    };
    let Some(raw) = from_header.or(body.token.as_deref()) else {
        return Err(ApiError::Unauthorized);
    };
    let t = match authenticate_with_current_keys(&state, raw, Expiry::Ignore).await? {
        Ok(t) => t,
        Err(Rejection::Revoked(_)) => {
            return Ok(AxumJson(LogoutResponse {
                message: "Logged out successfully",
                scope,
                sessions_revoked: 0,
            }));
        }
        Err(r @ Rejection::Invalid(e)) => {
            tracing::debug!(reason = r.reason(), "logout with invalid token");
            return Err(ApiError::BadLogoutToken(match e {
                TokenError::BadSignature => "invalid signature",
                _ => r.description(),
            }));
        }
    };
    let sid = t.sid.to_string();
    let which = match scope {
        Scope::Local => revoke::Sessions::One(sid.clone()),
        Scope::Others => revoke::Sessions::AllBut(sid.clone()),
        Scope::Global => revoke::Sessions::Everywhere,
    };
    let now = state.clock.now();
    let revoked = state
        .revocations()
        .sessions(&t.claims.sub, which, now)
        .await?;
    tracing::info!(user_id = %t.claims.sub, session_id = %sid, ?scope, sessions = revoked.live_sessions, "logout");
    Ok(AxumJson(LogoutResponse {
        message: "Logged out successfully",
        scope,
        sessions_revoked: revoked.live_sessions,
    }))
}
