//! Registered clients (SPEC §2): who they are, how their secrets are made
//! and checked, and what each may do. Shared by `jwtd client` and the
//! HTTP API.

use aws_lc_rs::{constant_time, digest};
use jwtd_core::id::{Id128, random_token};

use crate::store::ClientRecord;

/// The built-in public client: no secret, no rights; what `/login` and the
/// token endpoints act for when no client authenticates.
pub const PUBLIC_CLIENT: &str = "jwtd";

/// Bytes of randomness in a client secret.
const SECRET_BYTES: usize = 32;

/// What an endpoint may require of a registered client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    /// `POST /oauth/introspect`.
    Introspect,
    /// `GET /revocations` and `/revocations/stream`.
    Feed,
}

impl Right {
    /// Whether `c` holds this right.
    pub fn held_by(self, c: &ClientRecord) -> bool {
        match self {
            Self::Introspect => c.introspect,
            Self::Feed => c.feed,
        }
    }
}

/// A client just registered, with the only copy of its secret.
pub struct Registration {
    /// What is stored.
    pub record: ClientRecord,
    /// Shown once, never stored.
    pub secret: String,
}

/// Checks a client's display name: 1–64 printable ASCII characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        Ok(())
    } else {
        Err("client name must be 1-64 printable ASCII characters")
    }
}

/// Makes a new client: a random id and a 256-bit secret, stored as its
/// SHA-256. A slow hash (argon2) buys nothing for a secret this long and
/// would cost every introspection ~50 ms of CPU.
pub fn register(name: &str, introspect: bool, feed: bool, now: i64) -> Registration {
    let secret = random_token(SECRET_BYTES);
    Registration {
        record: ClientRecord {
            id: Id128::random().to_string(),
            name: name.to_owned(),
            secret_hash: hash_secret(&secret),
            introspect,
            feed,
            created_at: now,
        },
        secret,
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Whether `secret` is `c`'s, compared in constant time (over digests, so
/// not even its length leaks).
pub fn secret_matches(c: &ClientRecord, secret: &str) -> bool {
    constant_time::verify_slices_are_equal(&hash_secret(secret), &c.secret_hash).is_ok()
}

/// The work of [`secret_matches`] for a client that does not exist, so an
/// unknown id takes as long to refuse as a wrong secret.
pub fn secret_matches_nobody(secret: &str) -> bool {
    let nobody = [0u8; 32];
    let _ = constant_time::verify_slices_are_equal(&hash_secret(secret), &nobody);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_itself_and_is_not_stored() {
        let r = register("billing", true, false, 0);
        assert!(secret_matches(&r.record, &r.secret));
        assert!(!secret_matches(&r.record, &format!("{}x", r.secret)));
        assert!(!secret_matches(&r.record, ""));
        assert_ne!(r.record.secret_hash, r.secret.as_bytes());
        assert!(r.secret.len() >= 43, "256 bits, base64url");
        assert_ne!(r.record.id, PUBLIC_CLIENT);
        assert!(Right::Introspect.held_by(&r.record) && !Right::Feed.held_by(&r.record));
    }

    #[test]
    fn names_are_short_printable_ascii() {
        assert!(check_name("resource server 1").is_ok());
        for bad in ["", "tab\there", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
