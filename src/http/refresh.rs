//! Refresh-token rotation, at both of its doors: `POST /token/refresh`
//! (jwtd's JSON, 401 `invalid_grant`) and `POST /oauth/token` (RFC 6749 §6:
//! a form, §5.1 answers with `Cache-Control: no-store`, §5.2 errors with
//! 400 `invalid_grant`). Either way the session's own client must present
//! the token.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jwtd_core::id::Id128;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::bodies::TokenResponse;
use super::client_auth::{self, Client, PeerIp};
use super::error::{ApiError, ErrorBody};
use super::extract::{Form, Json};
use crate::state::AppState;
use crate::store::{RefreshOutcome, RefreshRequest};
use crate::tokens::{hash_refresh, issue_access, successor_of};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(token))
}

/// `/token/refresh` request; a registered client's session also needs the
/// client's credentials (fields or HTTP Basic).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §6 refresh request, form-encoded. Both fields are required
/// (declared so); read as optional, so that their absence is answered
/// with RFC 6749's `invalid_request` rather than a generic form error.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// Must be `refresh_token`.
    #[schema(required = true, pattern = "^refresh_token$")]
    grant_type: Option<String>,
    #[schema(required = true, min_length = 1)]
    refresh_token: Option<String>,
    /// Accepted and ignored: jwtd tokens carry no scopes.
    #[allow(dead_code)]
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.1 success.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthTokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
}

/// Why a rotation failed, for each door to word in its own way.
enum Failure {
    /// Unknown, expired, revoked or reused token (or theft).
    Grant,
    /// The session is another client's and no client authenticated.
    ClientRequired,
    /// The session is another client's.
    OtherClient,
    /// Anything else (store, signing).
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Rotates `presented` for `client`: the successor pair, or why not.
async fn rotate(
    state: &AppState,
    presented: &str,
    client: &Client,
) -> Result<TokenResponse, Failure> {
    if !jwtd_core::id::is_refresh_token(presented) {
        return Err(Failure::Grant);
    }
    let now = state.clock.now();
    let successor = successor_of(&state.refresh_key, presented);
    let access_exp = now + state.config.access_ttl_secs();
    let outcome = state
        .revocations()
        .refresh(&RefreshRequest {
            hash: hash_refresh(presented),
            successor_hash: hash_refresh(&successor),
            now,
            now_ms: state.clock.now_ms(),
            successor_expires_at: now + state.config.refresh_ttl_secs(),
            access_expires_at: access_exp,
            grace_ms: i64::try_from(state.config.serve.refresh_reuse_grace.as_millis())
                .unwrap_or(i64::MAX),
            leeway: state.config.leeway_secs(),
            client_id: client.id().to_owned(),
        })
        .await
        .map_err(ApiError::from)?;
    let (session, user) = match outcome {
        RefreshOutcome::Rotated(s, u) | RefreshOutcome::Replayed(s, u) => (s, u),
        RefreshOutcome::Theft(revocation) => {
            tracing::warn!(session_id = %revocation.value, "refresh token reuse: session revoked");
            return Err(Failure::Grant);
        }
        RefreshOutcome::Invalid => return Err(Failure::Grant),
        RefreshOutcome::WrongClient if matches!(client, Client::Public) => {
            return Err(Failure::ClientRequired);
        }
        RefreshOutcome::WrongClient => return Err(Failure::OtherClient),
    };
    let sid = Id128::parse(&session.id).ok_or(ApiError::Internal)?;
    let (access_token, exp) = issue_access(
        &state.keys,
        &state.config,
        &user,
        sid,
        &session.client_id,
        now,
    )
    .ok_or(ApiError::Internal)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: exp - now,
        refresh_token: successor,
        session_id: session.id,
    })
}

/// Rotate a refresh token: a new pair in the same session.
#[utoipa::path(post, path = "/token/refresh", tag = "accounts", request_body = RefreshBody,
    responses(
        (status = 200, description = "rotated", body = TokenResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_grant, or invalid_client", body = ErrorBody),
        (status = 429, description = "too_many_attempts: too many failed client authentications (see Retry-After)", body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Json(body): Json<RefreshBody>,
) -> Result<JsonBody<TokenResponse>, ApiError> {
    let presented = client_auth::presented(&headers, body.client_id, body.client_secret)?;
    let client = client_auth::authenticate(&state, presented, ip).await?;
    match rotate(&state, &body.refresh_token, &client).await {
        Ok(t) => Ok(JsonBody(t)),
        Err(Failure::Grant | Failure::OtherClient) => Err(ApiError::InvalidGrant),
        Err(Failure::ClientRequired) => Err(ApiError::InvalidClient { challenge: true }),
        Err(Failure::Api(e)) => Err(e),
    }
}

/// The OAuth 2 token endpoint (RFC 6749 §6): `grant_type=refresh_token`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "rotated (Cache-Control: no-store)", body = OAuthTokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 429, description = "too_many_attempts: too many failed client authentications (see Retry-After)", body = ErrorBody)))]
async fn token(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(form): Form<TokenRequest>,
) -> Response {
    let answer = async {
        let presented = client_auth::presented(&headers, form.client_id, form.client_secret)?;
        let client = client_auth::authenticate(&state, presented, ip).await?;
        match form.grant_type.as_deref() {
            Some("refresh_token") => {}
            Some(_) => return Err(ApiError::UnsupportedGrantType),
            None => return Err(ApiError::InvalidRequest("grant_type is required".into())),
        }
        let Some(presented) = form.refresh_token.filter(|t| !t.is_empty()) else {
            return Err(ApiError::InvalidRequest("refresh_token is required".into()));
        };
        match rotate(&state, &presented, &client).await {
            Ok(t) => Ok(OAuthTokenResponse {
                access_token: t.access_token,
                token_type: t.token_type,
                expires_in: t.expires_in,
                refresh_token: t.refresh_token,
            }),
            Err(Failure::Grant) => Err(ApiError::OAuthInvalidGrant(
                "refresh token is invalid, expired or revoked",
            )),
            Err(Failure::OtherClient) => Err(ApiError::OAuthInvalidGrant(
                "refresh token was issued to another client",
            )),
            Err(Failure::ClientRequired) => Err(ApiError::InvalidClient { challenge: true }),
            Err(Failure::Api(e)) => Err(e),
        }
    }
    .await;
    let mut resp = match answer {
        Ok(t) => JsonBody(t).into_response(),
        Err(e) => e.into_response(),
    };
    // RFC 6749 §5.1: token responses, and their errors, are never cached.
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
