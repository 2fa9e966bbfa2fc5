//! Bearer authentication for protected routes.
//!
//! The request path, in order: `Authorization` header → size cap →
//! signature and claims ([`jwtd_core::token::verify`]) → revocation index
//! lookup → [`AuthContext`]. No store access: a protected request costs a
//! signature check and a few hash-map probes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
use jwtd_core::token::{self, Expiry, TokenError, Validation, VerifiedToken};
use jwtd_core::verifier::Verifier;
use jwtd_core::view::RevocationView;

use super::error::{ApiError, Rejection};
use crate::state::AppState;

/// The verified, unrevoked caller of a protected route.
#[derive(Clone, Debug)]
pub struct AuthContext {
    /// The token's claims and parsed ids, shared with the verified-token
    /// cache rather than copied out of it.
    pub token: Arc<VerifiedToken>,
}

/// The bearer token of a request: `Ok(None)` when there are no credentials
/// at all (no header, or another scheme); see [`jwtd_core::bearer::parse`].
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    jwtd_core::bearer::parse(value.as_bytes())
        .map_err(|_| ApiError::InvalidToken(Rejection::Invalid(TokenError::Malformed)))
}

/// Verifies a token and checks it against the revocation index.
pub fn authenticate(
    state: &AppState,
    token: &str,
    expiry: Expiry,
) -> Result<Arc<VerifiedToken>, Rejection> {
    let keys = state.keys.verifier.load();
    let now = state.clock.now();
    let result = state
        .enforcement
        .view
        .check(&keys, &state.validation, token, now, expiry);
    crate::telemetry::verify_outcome(match &result {
        Ok(_) => "ok",
        Err(r) => r.reason(),
    });
    result
}

/// [`authenticate`] for the revoking and introspecting endpoints: a `kid`
/// this instance does not know yet may be a key another instance (or the
/// CLI) has just created, so the store is asked before the token is called
/// unknown. Answering "unknown" there would acknowledge a revocation that
/// revoked nothing while the token works moments later; for the same
/// reason, a store that cannot be asked is `Err(Unavailable)` (503), never
/// "unknown". Not for protected requests: their path never touches the
/// store.
pub async fn authenticate_with_current_keys(
    state: &AppState,
    token: &str,
    expiry: Expiry,
) -> Result<Result<Arc<VerifiedToken>, Rejection>, ApiError> {
    match authenticate(state, token, expiry) {
        Err(Rejection::Invalid(TokenError::UnknownKey)) => {
            let kid = token::decode_unverified(token)
                .and_then(|(h, _)| h["kid"].as_str().map(str::to_owned));
            match kid {
                Some(kid) if state.learn_key(&kid).await? => Ok(authenticate(state, token, expiry)),
                _ => Ok(Err(Rejection::Invalid(TokenError::UnknownKey))),
            }
        }
        other => Ok(other),
    }
}

/// The request-path check on explicit parts (what [`authenticate`] does,
/// exposed for benchmarks): verify, then look the token up in the index.
pub fn authenticate_parts(
    keys: &Verifier,
    view: &RevocationView,
    validation: &Validation,
    token: &str,
    now: i64,
) -> Result<Arc<VerifiedToken>, Rejection> {
    view.check(keys, validation, token, now, Expiry::Enforce)
}

impl FromRequestParts<AppState> for AuthContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?.ok_or(ApiError::Unauthorized)?;
        // Fail closed, and with 503 rather than 401, so clients keep their
        // refresh tokens and retry: this instance cannot vouch that the
        // token has not been revoked elsewhere.
        if state.is_stale() {
            return Err(ApiError::Stale);
        }
        match authenticate(state, token, Expiry::Enforce) {
            Ok(token) => Ok(Self { token }),
            Err(r) => {
                tracing::debug!(reason = r.reason(), "bearer token rejected");
                Err(ApiError::InvalidToken(r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parse(value: &[u8]) -> Result<Option<String>, String> {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).expect("from_bytes succeeds"),
        );
        bearer(&h)
            .map(|t| t.map(str::to_owned))
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn no_header_is_no_credentials_and_a_bad_one_a_malformed_token() {
        assert_eq!(bearer(&HeaderMap::new()).ok(), Some(None));
        assert_eq!(parse(b"Bearer a.b.c"), Ok(Some("a.b.c".into())));
        let Err(e) = parse(b"Bearer") else {
            panic!("a bare Bearer accepted");
        };
        assert!(e.contains("Malformed"), "{e}");
    }
}
