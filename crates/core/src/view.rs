//! One revocation view: what a process knows of jwtd's revocation log (the
//! index, how far into the log it has applied, and as of when that is
//! complete), and the one check every protected request runs against it.
//!
//! The server runs it (its state, fed by its own commits and the log
//! catch-up), and so does every embedded verifier (`jwtd-verify`, fed by
//! the paged snapshot and the SSE feed): the same type, the same check, so
//! the two can never disagree on what a token's revocation means.
//!
//! **Staleness contract.** `fresh_as_of_ms` is a moment before which every
//! committed revocation is in the index: the start of the last complete
//! catch-up (server), or the last event or heartbeat received from the
//! feed (verifier), whose heartbeats carry the log head. A caller that
//! promises `max_staleness` refuses requests (503, not 401: the token may
//! well be fine) once that moment is older than `max_staleness`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::revocation::{Revocation, RevocationIndex, RevocationKind};
use crate::token::{Expiry, TokenError, Validation, VerifiedToken};
use crate::verifier::Verifier;

/// Why a bearer token was refused on a protected route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// It failed verification.
    Invalid(TokenError),
    /// It verified but is revoked.
    Revoked(RevocationKind),
}

impl Rejection {
    /// Client-facing description, the `error_description` of the RFC 6750
    /// challenge (deliberately coarse for revocations: the kind does not
    /// help an attacker, but neither does it help a client).
    pub fn description(self) -> &'static str {
        match self {
            Self::Invalid(e) => match e {
                TokenError::TooLarge => "token too large",
                TokenError::Malformed => "malformed token",
                TokenError::UnknownKey => "unknown signing key",
                TokenError::AlgorithmMismatch => "algorithm not allowed",
                TokenError::WrongType => "not an access token",
                TokenError::CriticalHeader => "unsupported critical header",
                TokenError::BadSignature => "invalid signature",
                TokenError::Expired => "token expired",
                TokenError::NotYetValid => "token not yet valid",
                TokenError::IssuedInFuture => "token issued in the future",
                TokenError::WrongIssuer => "wrong issuer",
                TokenError::WrongAudience => "wrong audience",
            },
            Self::Revoked(_) => "token revoked",
        }
    }

    /// Stable reason label for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid(e) => e.reason(),
            Self::Revoked(k) => match k {
                RevocationKind::Token => "revoked_token",
                RevocationKind::Session => "revoked_session",
                RevocationKind::User => "revoked_user",
                RevocationKind::Key => "revoked_key",
            },
        }
    }

    /// The `WWW-Authenticate` value of a 401 for this rejection (RFC 6750
    /// §3), as jwtd sends it.
    pub fn challenge(self) -> String {
        format!(
            r#"Bearer error="invalid_token", error_description="{}""#,
            self.description()
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The revocation index with its log position and freshness.
pub struct RevocationView {
    index: RevocationIndex,
    position: AtomicI64,
    fresh_as_of_ms: AtomicI64,
}

impl RevocationView {
    /// A view holding `index`, complete up to log `position` as of
    /// `fresh_as_of_ms` (Unix ms).
    pub fn new(index: RevocationIndex, position: i64, fresh_as_of_ms: i64) -> Self {
        Self {
            index,
            position: AtomicI64::new(position),
            fresh_as_of_ms: AtomicI64::new(fresh_as_of_ms),
        }
    }

    /// The index.
    pub fn index(&self) -> &RevocationIndex {
        &self.index
    }

    /// Applies revocations (idempotent: the same one twice is harmless);
    /// answers how many could not be indexed (malformed values, logged by
    /// the caller).
    pub fn apply(&self, revocations: &[Revocation]) -> Vec<(Revocation, String)> {
        revocations
            .iter()
            .filter_map(|r| {
                self.index
                    .insert(r)
                    .err()
                    .map(|e| (r.clone(), e.to_string()))
            })
            .collect()
    }

    /// The log position applied so far.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    /// Records that the log is applied up to `position` (never backwards).
    pub fn advance_to(&self, position: i64) {
        self.position.fetch_max(position, Ordering::AcqRel);
    }

    /// Records that everything committed before `as_of_ms` is applied
    /// (never backwards).
    pub fn mark_fresh(&self, as_of_ms: i64) {
        self.fresh_as_of_ms.fetch_max(as_of_ms, Ordering::AcqRel);
    }

    /// How far behind the log this view may be at `now_ms`, in ms.
    pub fn staleness_ms(&self, now_ms: i64) -> i64 {
        (now_ms - self.fresh_as_of_ms.load(Ordering::Acquire)).max(0)
    }

    /// Whether the view may be missing revocations older than `max_ms`.
    pub fn is_stale(&self, now_ms: i64, max_ms: i64) -> bool {
        self.staleness_ms(now_ms) > max_ms
    }

    /// The request-path check: signature and claims (through `verifier`'s
    /// cache), then the index. No I/O.
    pub fn check(
        &self,
        verifier: &Verifier,
        validation: &Validation,
        token: &str,
        now: i64,
        expiry: Expiry,
    ) -> Result<Arc<VerifiedToken>, Rejection> {
        let t = verifier
            .verify(token, validation, now, expiry)
            .map_err(Rejection::Invalid)?;
        if let Some(kind) = self.index.check(&t.revocation_ref()) {
            return Err(Rejection::Revoked(kind));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::test_claims;
    use crate::keys::{Algorithm, KeyMaterial, KeyRing, SigningKey};

    const NOW: i64 = 1_900_000_000;

    #[test]
    fn the_check_verifies_then_consults_the_index() {
        let m = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
        let ring = KeyRing::new(&m, &[]).expect("a ring");
        let verifier = Verifier::new(ring, 1 << 20);
        let v = Validation {
            issuer: "https://issuer".into(),
            audience: "jwtd".into(),
            leeway: 30,
        };
        let claims = test_claims(NOW);
        let key = SigningKey::from_material(&m).expect("a signing key");
        let token = crate::token::issue(&key, &claims).expect("a token");
        let view = RevocationView::new(RevocationIndex::new(), 0, 0);
        assert!(
            view.check(&verifier, &v, &token, NOW, Expiry::Enforce)
                .is_ok()
        );
        let bad = view.apply(&[Revocation {
            kind: RevocationKind::Session,
            value: claims.sid.clone(),
            revoked_at: NOW,
            expires_at: NOW + 900,
        }]);
        assert!(bad.is_empty());
        let r = view.check(&verifier, &v, &token, NOW, Expiry::Enforce);
        assert_eq!(r.err(), Some(Rejection::Revoked(RevocationKind::Session)));
        assert_eq!(
            view.check(&verifier, &v, "a.b.c", NOW, Expiry::Enforce)
                .err(),
            Some(Rejection::Invalid(TokenError::Malformed))
        );
    }

    #[test]
    fn position_and_freshness_only_move_forward() {
        let view = RevocationView::new(RevocationIndex::new(), 5, 1_000);
        view.advance_to(3);
        view.mark_fresh(500);
        assert_eq!(view.position(), 5);
        assert_eq!(view.staleness_ms(1_400), 400);
        assert!(!view.is_stale(1_400, 400) && view.is_stale(1_401, 400));
        view.mark_fresh(2_000);
        assert_eq!(view.staleness_ms(1_500), 0);
    }
}
