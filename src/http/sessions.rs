//! The caller's own view: `GET /protected`, `GET /me`, `GET /sessions`,
//! `DELETE /sessions/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::AuthContext;
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use jwtd_core::json::JsonObject;

use super::json::respond;
use crate::revoke;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(protected))
        .routes(routes!(me))
        .routes(routes!(list))
        .routes(routes!(remove))
}

/// `GET /protected` body: the schema, and (below) the one place that writes
/// it, with [`JsonObject`], which copies no claim and skips serde's escaper.
#[derive(utoipa::ToSchema)]
pub struct Protected<'a> {
    message: &'static str,
    sub: &'a str,
    username: &'a str,
    session_id: &'a str,
}

impl Protected<'_> {
    fn into_response(self) -> Response {
        respond(
            JsonObject::with_capacity(160)
                .str("message", self.message)
                .str("sub", self.sub)
                .str("username", self.username)
                .str("session_id", self.session_id),
        )
    }
}

/// The seed's protected route.
#[utoipa::path(get, path = "/protected", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = Protected)))]
async fn protected(auth: AuthContext) -> Response {
    let c = &auth.token.claims;
    Protected {
        message: "Access granted",
        sub: &c.sub,
        username: &c.preferred_username,
        session_id: &c.sid,
    }
    .into_response()
}

/// `GET /me` body, written like [`Protected`].
#[derive(utoipa::ToSchema)]
pub struct Me<'a> {
    user_id: &'a str,
    username: &'a str,
    session_id: &'a str,
    expires_at: i64,
}

impl Me<'_> {
    fn into_response(self) -> Response {
        respond(
            JsonObject::with_capacity(160)
                .str("user_id", self.user_id)
                .str("username", self.username)
                .str("session_id", self.session_id)
                .int("expires_at", self.expires_at),
        )
    }
}

/// Who the caller is.
#[utoipa::path(get, path = "/me", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = Me)))]
async fn me(auth: AuthContext) -> Response {
    let c = &auth.token.claims;
    Me {
        user_id: &c.sub,
        username: &c.preferred_username,
        session_id: &c.sid,
        expires_at: c.exp,
    }
    .into_response()
}

/// One live session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

/// `GET /sessions` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
async fn list(
    State(state): State<AppState>,
    auth: AuthContext,
) -> Result<Json<SessionList>, ApiError> {
    let c = &auth.token.claims;
    let sessions = state
        .store
        .live_sessions(&c.sub, state.clock.now())
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == c.sid,
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "ended"),
        (status = 404, description = "not the caller's session", body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = &auth.token.claims.sub;
    // Someone else's session and no session at all look the same: 404.
    match state.store.session(&id).await? {
        Some(s) if &s.user_id == user_id => {}
        _ => return Err(ApiError::NotFound),
    }
    let now = state.clock.now();
    let which = revoke::Sessions::One(id);
    state.revocations().sessions(user_id, which, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
