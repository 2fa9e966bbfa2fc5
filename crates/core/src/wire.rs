//! The wire contract jwtd and its verifiers share, defined once: the error
//! body, the answers a protected request gets when it is turned away
//! (status, code, description, challenge, `Retry-After`), and the
//! revocation item the feed carries. The server, `jwtd-verify` and the
//! fan-out between instances use these types; `jwtd-express` keeps a copy
//! that a test checks against [`contract`].

use serde::{Deserialize, Serialize};

use crate::revocation::{Revocation, RevocationKind};
use crate::view::Rejection;

/// Every error's body: `{"error": code, "error_description": text}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `invalid_token`.
    pub error: String,
    /// Human-readable detail.
    pub error_description: String,
}

impl ErrorBody {
    /// A body with `error` and `description`.
    pub fn new(error: &str, description: &str) -> Self {
        Self {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }
    }
}

/// How a protected request is turned away, the same on jwtd and on every
/// verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: ErrorBody,
    /// `WWW-Authenticate`, if any.
    pub challenge: Option<String>,
    /// `Retry-After` in seconds, if any.
    pub retry_after: Option<u32>,
}

impl Denial {
    /// No bearer credentials: 401 `unauthorized`, bare `Bearer` challenge.
    pub fn no_credentials() -> Self {
        Self {
            status: 401,
            body: ErrorBody::new("unauthorized", "missing bearer token"),
            challenge: Some("Bearer".to_owned()),
            retry_after: None,
        }
    }

    /// A token refused (SPEC §3): 401 `invalid_token` with the RFC 6750
    /// challenge.
    pub fn rejected(r: Rejection) -> Self {
        Self {
            status: 401,
            body: ErrorBody::new("invalid_token", r.description()),
            challenge: Some(r.challenge()),
            retry_after: None,
        }
    }

    /// The revocation view is stale (nothing vouches that the token is not
    /// revoked): 503 `temporarily_unavailable`, retry in a second.
    pub fn stale() -> Self {
        Self {
            status: 503,
            body: ErrorBody::new("temporarily_unavailable", "revocation view is stale; retry"),
            challenge: None,
            retry_after: Some(1),
        }
    }
}

/// One revocation as the feed (`GET /revocations`, its stream) and the
/// fan-out carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Item))]
pub struct RevocationItem {
    /// `token`, `session`, `user` or `key`.
    pub kind: String,
    /// The jti, sid, user id or kid.
    pub value: String,
    /// When it was revoked; for users, the cut-off.
    pub revoked_at: i64,
    /// After this, no token it could reject is still valid.
    pub expires_at: i64,
}

impl From<&Revocation> for RevocationItem {
    fn from(r: &Revocation) -> Self {
        Self {
            kind: r.kind.as_str().to_owned(),
            value: r.value.clone(),
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
        }
    }
}

impl RevocationItem {
    /// The revocation, or `None` for a kind this build does not know (a
    /// newer jwtd): the caller logs and skips it.
    pub fn revocation(&self) -> Option<Revocation> {
        let kind: RevocationKind = self.kind.parse().ok()?;
        Some(Revocation {
            kind,
            value: self.value.clone(),
            revoked_at: self.revoked_at,
            expires_at: self.expires_at,
        })
    }
}

/// One page of `GET /revocations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = List))]
pub struct RevocationPage {
    /// The feed position when the walk began: stream from it once the
    /// last page is read.
    pub cursor: String,
    /// The revocations of this page, in log order.
    pub items: Vec<RevocationItem>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<String>,
}

/// The contract as JSON, for the clients in other languages to check
/// their copies against (`tests/wire/contract.json`).
pub fn contract() -> serde_json::Value {
    let denial = |d: Denial| {
        serde_json::json!({
            "status": d.status,
            "error": d.body.error,
            "error_description": d.body.error_description,
            "challenge": d.challenge,
            "retry_after": d.retry_after,
        })
    };
    serde_json::json!({
        "no_credentials": denial(Denial::no_credentials()),
        "stale": denial(Denial::stale()),
        "revocation_item": ["kind", "value", "revoked_at", "expires_at"],
        "revocation_kinds": RevocationKind::ALL.map(RevocationKind::as_str),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_unknown_kinds_are_skipped() {
        let r = Revocation {
            kind: RevocationKind::Session,
            value: "s".into(),
            revoked_at: 1,
            expires_at: 2,
        };
        let item = RevocationItem::from(&r);
        let text = serde_json::to_string(&item).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"kind":"session","value":"s","revoked_at":1,"expires_at":2}"#
        );
        assert_eq!(item.revocation(), Some(r));
        let future = RevocationItem {
            kind: "device".into(),
            ..item
        };
        assert_eq!(future.revocation(), None);
    }

    #[test]
    fn the_contract_file_is_what_this_build_says() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/wire/contract.json"
        );
        let expected = serde_json::to_string_pretty(&contract()).unwrap_or_default() + "\n";
        if std::env::var_os("JWTD_BLESS").is_some() {
            let _ = std::fs::write(path, &expected);
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            on_disk, expected,
            "tests/wire/contract.json is stale: JWTD_BLESS=1 cargo test -p jwtd-core contract"
        );
    }
}
