//! Minting what a login or a refresh hands out: access tokens signed by
//! the active key, and the hashes and successors of refresh tokens.
//! Handlers call these; they hold no HTTP.

use aws_lc_rs::{digest, hmac};
use jwtd_core::claims::AccessClaims;
use jwtd_core::id::Id128;
use jwtd_core::{b64, token};

use crate::config::Config;
use crate::key_state::KeyState;
use crate::store::UserRecord;

/// Signs a new access token for `user` in session `sid`, issued to
/// `client_id`; returns it and its `exp`. `None` when no key signs (never
/// once the server has started) or signing failed.
pub fn issue_access(
    keys: &KeyState,
    config: &Config,
    user: &UserRecord,
    sid: Id128,
    client_id: &str,
    now: i64,
) -> Option<(String, i64)> {
    let exp = now + config.access_ttl_secs();
    let claims = AccessClaims {
        iss: config.issuer.clone(),
        sub: user.id.clone(),
        aud: config.serve.audience.clone(),
        iat: now,
        nbf: now,
        exp,
        jti: Id128::random().to_string(),
        sid: sid.to_string(),
        preferred_username: user.username.clone(),
        client_id: client_id.to_owned(),
    };
    let ring = keys.verifier.load();
    let signer = ring.ring().active()?;
    let t = token::issue(signer, &claims).ok()?;
    Some((t, exp))
}

/// SHA-256 of a refresh token: all the store ever sees of it.
pub fn hash_refresh(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// The deterministic successor of a refresh token: HMAC of the token under
/// a server secret. Unpredictable without both, and recomputable on a
/// replay.
pub fn successor_of(key: &hmac::Key, token: &str) -> String {
    b64::encode(hmac::sign(key, token.as_bytes()))
}
