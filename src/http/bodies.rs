//! Response bodies more than one handler answers with.

use serde::Serialize;

/// Body of a successful login or refresh.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The access token (JWT, `typ: at+jwt`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token, shown only here.
    pub refresh_token: String,
    /// The session (`sid`).
    pub session_id: String,
}
