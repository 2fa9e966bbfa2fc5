//! The caller's own view: `GET /protected`, `GET /me`, `GET /sessions`,
//! `DELETE /sessions/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;

use super::auth::AuthContext;
use super::error::ApiError;
use crate::app::AppState;
use crate::revoke;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/protected", get(protected))
        .route("/me", get(me))
        .route("/sessions", get(list))
        .route("/sessions/{id}", delete(remove))
}

/// `GET /protected` body.
#[derive(Serialize)]
pub struct Protected {
    message: &'static str,
    sub: String,
    username: String,
    session_id: String,
}

async fn protected(auth: AuthContext) -> Json<Protected> {
    let c = auth.token.claims;
    Json(Protected {
        message: "Access granted",
        sub: c.sub,
        username: c.preferred_username,
        session_id: c.sid,
    })
}

/// `GET /me` body.
#[derive(Serialize)]
pub struct Me {
    user_id: String,
    username: String,
    session_id: String,
    expires_at: i64,
}

async fn me(auth: AuthContext) -> Json<Me> {
    let c = auth.token.claims;
    Json(Me {
        user_id: c.sub,
        username: c.preferred_username,
        session_id: c.sid,
        expires_at: c.exp,
    })
}

/// One live session.
#[derive(Serialize)]
pub struct SessionView {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

/// `GET /sessions` body.
#[derive(Serialize)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

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
    let revoked = revoke::sessions(&state.store, &state.config, user_id, which, now).await?;
    state.apply_committed(&revoked.revocations);
    Ok(StatusCode::NO_CONTENT)
}
