//! The admin API: force-logout a user, rotate and revoke signing keys.
//!
//! Every admin route takes the [`Admin`] extractor: `Authorization: Bearer
//! <admin_token>`, compared in constant time; 403 `admin_disabled` when no
//! admin token is configured.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::client_auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::state::AppState;
use crate::{keyring, revoke};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout_user))
        .routes(routes!(rotate))
        .routes(routes!(revoke_key))
}

/// `200` body of a forced logout.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsRevoked {
    sessions_revoked: u64,
}

/// Log a user out everywhere.
#[utoipa::path(post, path = "/admin/users/{username}/logout", tag = "admin", security(("admin" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = SessionsRevoked), (status = 404, body = ErrorBody)))]
async fn logout_user(
    State(state): State<AppState>,
    _: Admin,
    Path(username): Path<String>,
) -> Result<Json<SessionsRevoked>, ApiError> {
    let user = state
        .store
        .user_by_name(&username)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let which = revoke::Sessions::Everywhere;
    let revoked = state.revocations().sessions(&user.id, which, now).await?;
    tracing::info!(user_id = %user.id, sessions = revoked.live_sessions, "admin logout");
    Ok(Json(SessionsRevoked {
        sessions_revoked: revoked.live_sessions,
    }))
}

/// A key id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Kid {
    kid: String,
}

/// `200` body of a rotation: the key that will sign and from when.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Rotation {
    kid: String,
    active_at: i64,
}

/// `?immediate=` of a rotation.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Switch at once (emergency) instead of after the JWKS `max-age`.
    #[serde(default)]
    immediate: bool,
}

/// Rotate the signing key: the published next key signs once every cached
/// JWKS has it (`?immediate=true`: at once); the old one keeps verifying
/// its tokens.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("admin" = [])),
    params(RotateQuery),
    responses((status = 200, body = Rotation),
        (status = 400, description = "invalid_request", body = ErrorBody)))]
async fn rotate(
    State(state): State<AppState>,
    _: Admin,
    Query(q): Query<RotateQuery>,
) -> Result<Json<Rotation>, ApiError> {
    let (kid, active_at) =
        keyring::rotate(&state.store, &state.config, state.clock.now(), q.immediate)
            .await
            .map_err(key_error)?;
    state
        .reload_keys()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    state.enforcement.keys_changed().await;
    tracing::info!(%kid, active_at, "signing key rotated");
    Ok(Json(Rotation { kid, active_at }))
}

/// Revoke a signing key: every token it signed is rejected.
#[utoipa::path(post, path = "/admin/keys/{kid}/revoke", tag = "admin", security(("admin" = [])),
    params(("kid" = String, Path)),
    responses((status = 200, body = Kid), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    _: Admin,
    Path(kid): Path<String>,
) -> Result<Json<Kid>, ApiError> {
    let now = state.clock.now();
    // Revoked before (maybe through another instance whose event has not
    // arrived here yet) or now: either way enforced here before this
    // answer acknowledges it; only a new revocation is counted and
    // published.
    let (_, new) = state
        .revocations()
        .key(&kid, now)
        .await
        .map_err(key_error)?
        .ok_or(ApiError::NotFound)?;
    if new {
        tracing::warn!(%kid, "signing key revoked");
    }
    Ok(Json(Kid { kid }))
}

fn key_error(e: keyring::KeyringError) -> ApiError {
    match e {
        keyring::KeyringError::Store(s) => s.into(),
        keyring::KeyringError::Key(k) => {
            tracing::error!(error = %k, "key operation failed");
            ApiError::Internal
        }
    }
}
