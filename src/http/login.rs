//! Accounts and sessions: `POST /register`, `POST /login`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use jwtd_core::id::{Id128, random_token};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::bodies::TokenResponse;
use super::client_auth;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use crate::accounts::{MAX_PASSWORD, check_password, check_username, fold_username};
use crate::state::AppState;
use crate::store::{NewSession, StoreError, UserRecord};
use crate::tokens::{hash_refresh, issue_access};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
}

/// Username and password, for both register and login.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    /// 1-64 of `A-Za-z0-9._@-`; stored lowercased.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    username: String,
    /// At least 8 characters, at most 1024 bytes (UTF-8).
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// `201` body of `/register`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered {
    user_id: String,
    username: String,
}

/// `/login` request: credentials, and the client logging the user in
/// (the public client `jwtd` when absent; a registered client proves
/// itself with `client_secret` or HTTP Basic).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    /// Any case.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    username: String,
    /// At most 1024 bytes (UTF-8).
    #[schema(max_length = 1024)]
    password: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Create an account.
#[utoipa::path(post, path = "/register", tag = "accounts", request_body = Credentials,
    responses(
        (status = 201, description = "created", body = Registered),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "registration_disabled", body = ErrorBody),
        (status = 409, description = "username_taken", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.config.serve.open_registration {
        return Err(ApiError::RegistrationDisabled);
    }
    check_username(&c.username)
        .and_then(|()| check_password(&c.password))
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let hash = hash_password(&state, c.password).await?;
    let user = UserRecord {
        id: uuid::Uuid::now_v7().to_string(),
        username: fold_username(&c.username),
        password_hash: hash,
        created_at: state.clock.now(),
    };
    match state.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(ApiError::UsernameTaken),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(Registered {
            user_id: user.id,
            username: user.username,
        }),
    ))
}

/// Hashes on the blocking pool, at most `argon2_concurrency` at a time.
pub async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    let hasher = state.hasher.clone();
    on_hash_slot(state, move || hasher.hash(password.as_bytes()))
        .await?
        .map_err(|_| ApiError::Internal)
}

async fn verify_password(
    state: &AppState,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    let hasher = state.hasher.clone();
    on_hash_slot(state, move || {
        hasher.verify(password.as_bytes(), hash.as_deref())
    })
    .await
}

/// Runs `work` (an argon2 run) on the blocking pool once a hash slot is
/// free. The slot's permit moves into the closure: a client that hangs up
/// drops the request future, but the hash it started keeps running, and its
/// memory stays counted until it ends.
async fn on_hash_slot<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state
        .hash_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(|_| ApiError::Internal)
}

/// Log in: an access token, a refresh token and a new session.
#[utoipa::path(post, path = "/login", tag = "accounts", request_body = LoginBody,
    responses(
        (status = 200, description = "logged in", body = TokenResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_credentials, or invalid_client", body = ErrorBody),
        (status = 429, description = "too_many_attempts: too many failed logins, or client authentications (see Retry-After)", body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(c): Json<LoginBody>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let presented = client_auth::presented(&headers, c.client_id, c.client_secret)?;
    let client = client_auth::authenticate(&state, presented, peer.ip()).await?;
    if c.password.len() > MAX_PASSWORD || c.username.len() > 256 {
        return Err(ApiError::InvalidRequest(
            "username or password too long".into(),
        ));
    }
    let username = fold_username(&c.username);
    let ip = peer.ip().to_string();
    let now = state.clock.now();
    let window = crate::config::secs(state.config.serve.login_failure_window);
    let max = state.config.serve.login_max_failures;
    // Reserved before the hash runs: reading the count first and writing it
    // after the check let every request of a burst see a count below the
    // limit.
    if let Err(start) = state
        .store
        .reserve_login_attempt(&username, &ip, now, now - window, max)
        .await?
    {
        return Err(ApiError::TooManyAttempts(start + window - now));
    }
    let user = state.store.user_by_name(&username).await?;
    // Unknown users are verified against a dummy hash: same work, same
    // answer, so neither timing nor body tells whether a username exists.
    let ok = verify_password(
        &state,
        c.password,
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await?;
    // A failure keeps its reservation: that is the count.
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::InvalidCredentials);
    };
    let sid = Id128::random();
    let refresh_token = random_token(jwtd_core::id::REFRESH_TOKEN_BYTES);
    let (access_token, exp) =
        issue_access(&state.keys, &state.config, &user, sid, client.id(), now)
            .ok_or(ApiError::Internal)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    state
        .store
        .create_session(&NewSession {
            id: sid.to_string(),
            user_id: user.id.clone(),
            now,
            user_agent,
            ip: Some(ip.clone()),
            clears_login_attempts: Some((username, ip)),
            refresh_hash: hash_refresh(&refresh_token),
            refresh_expires_at: now + state.config.refresh_ttl_secs(),
            access_expires_at: exp,
            client_id: client.id().to_owned(),
        })
        .await?;
    tracing::info!(user_id = %user.id, session_id = %sid, client_id = client.id(), "login");
    Ok(axum::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: exp - now,
        refresh_token,
        session_id: sid.to_string(),
    }))
}
