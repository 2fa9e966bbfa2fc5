//! Access-token claims (SPEC §2).

use serde::{Deserialize, Serialize};

/// The `typ` header of every access token (RFC 9068 §2.1), so an access token
/// can never be mistaken for another kind of JWT (RFC 8725 §3.11).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of a jwtd access token.
///
/// Every field is required on verify: a token missing one is malformed.
/// `aud` is a single string because jwtd is the only issuer of these tokens
/// and always writes one audience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the configured `issuer`, checked on verify.
    pub iss: String,
    /// Subject: the user's stable id (never the username, which can be reused).
    pub sub: String,
    /// Audience: the configured `audience`, checked on verify.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch (equal to `iat` for jwtd tokens).
    pub nbf: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Token id: 128 random bits, base64url (see [`crate::id::Id128`]).
    pub jti: String,
    /// Session id: 128 random bits, base64url.
    pub sid: String,
    /// The username at issue time, for display only.
    pub preferred_username: String,
    /// The client the session was created through (RFC 9068 §2.2); `jwtd`
    /// for the built-in public client. Tokens minted before this claim
    /// existed read as `jwtd`, so an upgrade does not log everyone out.
    #[serde(default = "public_client")]
    pub client_id: String,
}

fn public_client() -> String {
    "jwtd".to_owned()
}

/// Claims for the crate's tests: issued at `now` by `https://issuer` for
/// `jwtd`, valid 15 minutes, with a fresh `jti` and `sid`.
#[cfg(test)]
pub(crate) fn test_claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: "https://issuer".into(),
        sub: "0193b1c2-4d5e-7f60-8a1b-2c3d4e5f6071".into(),
        aud: "jwtd".into(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: crate::id::Id128::random().to_string(),
        sid: crate::id::Id128::random().to_string(),
        preferred_username: "alice".into(),
        client_id: "jwtd".into(),
    }
}
