//! `ApiError`: the one place an error becomes a status, a JSON body
//! (`{"error", "error_description"}`) and, for bearer failures, an RFC 6750
//! `WWW-Authenticate` header. Internal details never reach the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

pub use jwtd_core::view::Rejection;

use jwtd_core::wire::Denial;
/// The error body every failure carries.
pub use jwtd_core::wire::ErrorBody;

/// Every error a handler can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `invalid_request`.
    InvalidRequest(String),
    /// 400 `invalid_token`: a logout with a token that is not ours.
    BadLogoutToken(&'static str),
    /// 401 `unauthorized` with a bare `WWW-Authenticate: Bearer`: no credentials.
    Unauthorized,
    /// 401 `unauthorized`, as [`ApiError::Unauthorized`], for an admin
    /// token that was presented and is not the configured one.
    WrongAdminToken,
    /// 401 `invalid_token` with an RFC 6750 challenge.
    InvalidToken(Rejection),
    /// 401 `invalid_credentials`.
    InvalidCredentials,
    /// 401 `invalid_grant` (`/token/refresh`).
    InvalidGrant,
    /// 400 `invalid_grant` (`/oauth/token`, RFC 6749 §5.2), with why.
    OAuthInvalidGrant(&'static str),
    /// 400 `unsupported_grant_type` (`/oauth/token`).
    UnsupportedGrantType,
    /// 401 `invalid_client`: unknown client or wrong secret (RFC 6749
    /// §5.2); with a `Basic` challenge when Basic was tried or nothing was
    /// sent.
    InvalidClient {
        /// Whether to send `WWW-Authenticate: Basic realm="jwtd"`.
        challenge: bool,
    },
    /// 400 `unauthorized_client`: a token revocation by a client the token
    /// was not issued to (RFC 7009 §2.1, answered as RFC 6749 §5.2).
    NotIssuedToClient,
    /// 403 `unauthorized_client`: a valid client without the right.
    UnauthorizedClient,
    /// 403 `registration_disabled`.
    RegistrationDisabled,
    /// 403 `admin_disabled`: no admin token is configured.
    AdminDisabled,
    /// 404 `not_found`.
    NotFound,
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 408 `request_timeout`: the body did not arrive within
    /// `body_read_timeout` (answered by the connection, not a handler).
    RequestTimeout,
    /// 409 `username_taken`.
    UsernameTaken,
    /// 413 `payload_too_large`.
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType,
    /// 429 `too_many_attempts`, retry after this many seconds.
    TooManyAttempts(i64),
    /// 503 `temporarily_unavailable`: the store could not answer or commit.
    Unavailable,
    /// 503 `temporarily_unavailable`: the revocation view is stale, as a
    /// verifier says it ([`Denial::stale`]).
    Stale,
    /// 500 `server_error`.
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        match e {
            StoreError::Unavailable(_) => Self::Unavailable,
            StoreError::Conflict | StoreError::Corrupt(_) | StoreError::Migration(_) => {
                Self::Internal
            }
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::InvalidRequest(m) => (S::BAD_REQUEST, "invalid_request", m.clone()),
            Self::BadLogoutToken(m) => (S::BAD_REQUEST, "invalid_token", (*m).to_owned()),
            Self::Unauthorized => (
                S::UNAUTHORIZED,
                "unauthorized",
                Denial::no_credentials().body.error_description,
            ),
            Self::WrongAdminToken => (
                S::UNAUTHORIZED,
                "unauthorized",
                "admin token not accepted".into(),
            ),
            Self::InvalidToken(r) => (
                S::UNAUTHORIZED,
                "invalid_token",
                Denial::rejected(*r).body.error_description,
            ),
            Self::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "invalid username or password".into(),
            ),
            Self::InvalidGrant => (
                S::UNAUTHORIZED,
                "invalid_grant",
                "refresh token is invalid, expired or revoked".into(),
            ),
            Self::OAuthInvalidGrant(why) => (S::BAD_REQUEST, "invalid_grant", (*why).to_owned()),
            Self::UnsupportedGrantType => (
                S::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=refresh_token is supported".into(),
            ),
            Self::InvalidClient { .. } => (
                S::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed".into(),
            ),
            Self::NotIssuedToClient => (
                S::BAD_REQUEST,
                "unauthorized_client",
                "the token was not issued to this client".into(),
            ),
            Self::UnauthorizedClient => (
                S::FORBIDDEN,
                "unauthorized_client",
                "this client may not use this endpoint".into(),
            ),
            Self::RegistrationDisabled => (
                S::FORBIDDEN,
                "registration_disabled",
                "registration is closed".into(),
            ),
            Self::AdminDisabled => (
                S::FORBIDDEN,
                "admin_disabled",
                "the admin API is off: no admin_token configured".into(),
            ),
            Self::NotFound => (S::NOT_FOUND, "not_found", "no such resource".into()),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this path".into(),
            ),
            Self::RequestTimeout => (
                S::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive within body_read_timeout".into(),
            ),
            Self::UsernameTaken => (S::CONFLICT, "username_taken", "username is taken".into()),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body over 16 KiB".into(),
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "unsupported Content-Type for this endpoint".into(),
            ),
            Self::TooManyAttempts(_) => (
                S::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed attempts; retry later".into(),
            ),
            Self::Stale => (
                S::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                Denial::stale().body.error_description,
            ),
            Self::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "storage unavailable; nothing was changed".into(),
            ),
            Self::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description) = self.parts();
        let challenge = match &self {
            Self::Unauthorized | Self::WrongAdminToken => Denial::no_credentials().challenge,
            Self::InvalidClient { challenge: true } => Some(r#"Basic realm="jwtd""#.to_owned()),
            Self::InvalidToken(r) => Denial::rejected(*r).challenge,
            _ => None,
        };
        let mut resp = (
            status,
            axum::Json(json!({"error": code, "error_description": description})),
        )
            .into_response();
        let headers = resp.headers_mut();
        if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Self::TooManyAttempts(secs) = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
