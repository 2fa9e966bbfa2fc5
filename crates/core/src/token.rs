//! Issuing and verifying access tokens (compact JWS, RFC 7515).
//!
//! Verification runs cheapest-first and stops at the first failure:
//! size cap → structure → header → kid → pinned alg → typ → signature →
//! claims (exp/nbf/iat with leeway, iss, aud, id formats). Nothing from the
//! token is trusted before its signature is checked except the `kid`, which
//! is only used as a map key, and the `alg`, which must equal the key's own.

use serde::Deserialize;

use crate::b64;
use crate::claims::{ACCESS_TOKEN_TYP, AccessClaims};
use crate::id::Id128;
use crate::keys::{KeyError, KeyRing, SigningKey};

/// Tokens longer than this are rejected before any parsing (SPEC §3).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was rejected. Small and `Copy`: it is built on the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token too large")]
    TooLarge,
    /// Not three base64url parts of JSON with the required fields.
    #[error("malformed token")]
    Malformed,
    /// The `kid` names no key this server verifies with.
    #[error("unknown signing key")]
    UnknownKey,
    /// The header `alg` is not the algorithm pinned to the key.
    #[error("algorithm not allowed for this key")]
    AlgorithmMismatch,
    /// The header `typ` is not `at+jwt`.
    #[error("not an access token")]
    WrongType,
    /// The header carries a `crit` extension, none of which jwtd understands.
    #[error("unsupported critical header")]
    CriticalHeader,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` is in the past (beyond leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not this issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not this audience.
    #[error("wrong audience")]
    WrongAudience,
}

impl TokenError {
    /// A stable label for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_kid",
            Self::AlgorithmMismatch => "alg_mismatch",
            Self::WrongType => "wrong_typ",
            Self::CriticalHeader => "crit_header",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
        }
    }
}

/// What a token must match besides its signature.
#[derive(Clone, Debug)]
pub struct Validation {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Clock-skew allowance in seconds for exp, nbf and iat.
    pub leeway: i64,
}

/// Whether an expired token is acceptable: only `/logout` says yes, so a user
/// whose access token lapsed can still end the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Reject tokens past `exp` + leeway.
    Enforce,
    /// Accept them (signature and every other check still apply).
    Ignore,
}

/// A token that passed every check, with its ids already parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: AccessClaims,
    /// The key that signed it.
    pub kid: String,
    /// `jti` as bytes.
    pub jti: Id128,
    /// `sid` as bytes.
    pub sid: Id128,
    /// `sub` as bytes, when it is a canonical UUID (parsed once, here, so
    /// a cache hit does not parse it again).
    pub user: Option<Id128>,
}

impl VerifiedToken {
    /// The parts the revocation index looks at.
    pub fn revocation_ref(&self) -> crate::revocation::TokenRef<'_> {
        crate::revocation::TokenRef {
            jti: self.jti,
            sid: self.sid,
            sub: &self.claims.sub,
            user: self.user,
            iat: self.claims.iat,
            kid: &self.kid,
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    // jku, x5u, jwk, x5c are deliberately not read (RFC 8725 §3.10): keys
    // come only from our own ring.
    crit: Option<serde::de::IgnoredAny>,
}

/// Signs `claims` with `key` into a compact JWS with `typ: at+jwt`.
pub fn issue(key: &SigningKey, claims: &AccessClaims) -> Result<String, KeyError> {
    let header = format!(
        r#"{{"alg":"{}","typ":"{}","kid":"{}"}}"#,
        key.alg(),
        ACCESS_TOKEN_TYP,
        key.kid()
    );
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Generation)?;
    let mut out = b64::encode(header);
    out.push('.');
    out.push_str(&b64::encode(payload));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64::encode(sig));
    Ok(out)
}

/// Verifies `token` in full against `ring` and `v` at time `now`: header,
/// pinned algorithm, signature, claims. The request path goes through
/// [`crate::verifier::Verifier::verify`], which remembers verified tokens.
///
/// Revocation is not checked here: that is the index's job, right after.
pub fn verify_uncached(
    ring: &KeyRing,
    token: &str,
    v: &Validation,
    now: i64,
    expiry: Expiry,
) -> Result<VerifiedToken, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let (signing_input, sig_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    let header: Header = decode_json(header_b64)?;
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    let key = ring.get(&kid).ok_or(TokenError::UnknownKey)?;
    if header.alg != key.alg().as_str() {
        return Err(TokenError::AlgorithmMismatch);
    }
    if header.crit.is_some() {
        return Err(TokenError::CriticalHeader);
    }
    if !header.typ.as_deref().is_some_and(is_access_typ) {
        return Err(TokenError::WrongType);
    }
    let sig = b64::decode(sig_b64).ok_or(TokenError::Malformed)?;
    if !key.verify(signing_input.as_bytes(), &sig) {
        return Err(TokenError::BadSignature);
    }
    let claims: AccessClaims = decode_json(payload_b64)?;
    check_claims(&claims, v, now, expiry)?;
    let jti = Id128::parse(&claims.jti).ok_or(TokenError::Malformed)?;
    let sid = Id128::parse(&claims.sid).ok_or(TokenError::Malformed)?;
    let user = Id128::parse_uuid(&claims.sub);
    Ok(VerifiedToken {
        claims,
        kid,
        jti,
        sid,
        user,
    })
}

/// The claim checks (time with leeway, issuer, audience), also run on
/// every cache hit.
pub(crate) fn check_claims(
    c: &AccessClaims,
    v: &Validation,
    now: i64,
    expiry: Expiry,
) -> Result<(), TokenError> {
    if expiry == Expiry::Enforce && c.exp.saturating_add(v.leeway) <= now {
        return Err(TokenError::Expired);
    }
    if c.nbf.saturating_sub(v.leeway) > now {
        return Err(TokenError::NotYetValid);
    }
    if c.iat.saturating_sub(v.leeway) > now {
        return Err(TokenError::IssuedInFuture);
    }
    if c.iss != v.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if c.aud != v.audience {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

/// RFC 9068 §4: `at+jwt`, optionally with the `application/` prefix, any case.
fn is_access_typ(typ: &str) -> bool {
    let t = typ.strip_prefix("application/").unwrap_or(typ);
    t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = b64::decode(part).ok_or(TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// Decodes a token's header and claims without checking anything, for
/// `jwtd inspect` and diagnostics. Never use the result for a decision.
pub fn decode_unverified(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut parts = token.split('.');
    let h = parts.next()?;
    let p = parts.next()?;
    let header = serde_json::from_slice(&b64::decode(h)?).ok()?;
    let claims = serde_json::from_slice(&b64::decode(p)?).ok()?;
    Some((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, KeyMaterial};

    const NOW: i64 = 1_800_000_000;

    fn setup(alg: Algorithm) -> (KeyMaterial, KeyRing, Validation) {
        let m = KeyMaterial::generate(alg).expect("a key is generated");
        let ring = KeyRing::new(&m, &[]).expect("constructs");
        let v = Validation {
            issuer: "https://issuer".into(),
            audience: "jwtd".into(),
            leeway: 30,
        };
        (m, ring, v)
    }

    fn claims() -> AccessClaims {
        crate::claims::test_claims(NOW)
    }

    fn sign_raw(key: &SigningKey, header: &str, claims: &AccessClaims) -> String {
        let input = format!(
            "{}.{}",
            b64::encode(header),
            b64::encode(serde_json::to_vec(claims).expect("serialises"))
        );
        let sig = key.sign(input.as_bytes()).expect("signs");
        format!("{input}.{}", b64::encode(sig))
    }

    #[test]
    fn issued_tokens_verify_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let (_, ring, v) = setup(alg);
            let c = claims();
            let t = issue(ring.active().expect("a signing key"), &c).expect("issue succeeds");
            let got = verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce);
            assert_eq!(got.map(|g| g.claims), Ok(c), "{alg}");
        }
    }

    #[test]
    fn time_claims_respect_leeway() {
        let (_, ring, v) = setup(Algorithm::EdDSA);
        let t = issue(ring.active().expect("a signing key"), &claims()).expect("issue succeeds");
        let at = |now| verify_uncached(&ring, &t, &v, now, Expiry::Enforce).err();
        assert_eq!(at(NOW + 900 + 29), None);
        assert_eq!(at(NOW + 930), Some(TokenError::Expired));
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW + 5000, Expiry::Ignore).err(),
            None
        );
        assert_eq!(at(NOW - 30), None);
        assert_eq!(at(NOW - 31), Some(TokenError::NotYetValid));
        let mut c = claims();
        c.nbf = NOW - 100;
        c.iat = NOW + 100;
        let t = issue(ring.active().expect("a signing key"), &c).expect("issue succeeds");
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::IssuedInFuture)
        );
    }

    #[test]
    fn header_attacks_are_rejected() {
        let (m, ring, v) = setup(Algorithm::EdDSA);
        let key = ring.active().expect("a signing key");
        let c = claims();
        let kid = m.kid.clone();
        let cases = [
            (
                format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#),
                TokenError::AlgorithmMismatch,
            ),
            (
                format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#),
                TokenError::AlgorithmMismatch,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","kid":"nope"}"#.to_string(),
                TokenError::UnknownKey,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt"}"#.to_string(),
                TokenError::Malformed,
            ),
            (
                format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#),
                TokenError::WrongType,
            ),
            (
                format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
                TokenError::WrongType,
            ),
            (
                format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","crit":["exp"]}}"#),
                TokenError::CriticalHeader,
            ),
        ];
        for (header, want) in cases {
            let t = sign_raw(key, &header, &c);
            assert_eq!(
                verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
                Some(want),
                "{header}"
            );
        }
        // An HS256 MAC keyed with the public key, as in the classic confusion attack.
        let forged_key = SigningKey::from_material(&KeyMaterial {
            kid: kid.clone(),
            alg: Algorithm::HS256,
            private: m.public.clone(),
            public: vec![],
        })
        .expect("from_material succeeds");
        let t = sign_raw(
            &forged_key,
            &format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#),
            &c,
        );
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::AlgorithmMismatch)
        );
        // "application/at+jwt" is the same type (RFC 9068).
        let t = sign_raw(
            key,
            &format!(r#"{{"alg":"EdDSA","typ":"application/AT+JWT","kid":"{kid}"}}"#),
            &c,
        );
        assert!(verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).is_ok());
    }

    #[test]
    fn embedded_key_headers_are_ignored() {
        // RFC 8725 §3.10: keys come from our ring only. A token carrying an
        // attacker's key in `jwk` (or a `jku` URL) and signed with it fails;
        // the same headers on a token we signed change nothing.
        let (m, ring, v) = setup(Algorithm::EdDSA);
        let attacker = KeyMaterial::generate(Algorithm::EdDSA).expect("a key is generated");
        let jwk = serde_json::to_string(&attacker.jwk()).expect("to_string succeeds");
        let header = format!(
            r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","jwk":{jwk},"jku":"https://evil/jwks"}}"#,
            m.kid
        );
        let signer = SigningKey::from_material(&attacker).expect("from_material succeeds");
        let forged = sign_raw(&signer, &header, &claims());
        assert_eq!(
            verify_uncached(&ring, &forged, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::BadSignature)
        );
        let ours = sign_raw(ring.active().expect("a signing key"), &header, &claims());
        assert!(verify_uncached(&ring, &ours, &v, NOW, Expiry::Enforce).is_ok());
    }

    #[test]
    fn payload_and_signature_tampering_is_rejected() {
        let (_, ring, v) = setup(Algorithm::ES256);
        let t = issue(ring.active().expect("a signing key"), &claims()).expect("issue succeeds");
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims();
        c.sub = "admin".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64::encode(serde_json::to_vec(&c).expect("serialises")),
            parts[2]
        );
        assert_eq!(
            verify_uncached(&ring, &forged, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::BadSignature)
        );
        for bad in ["", "a.b", "a.b.c.d", &format!("{}.{}.", parts[0], parts[1])] {
            assert!(
                verify_uncached(&ring, bad, &v, NOW, Expiry::Enforce).is_err(),
                "{bad}"
            );
        }
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            verify_uncached(&ring, &huge, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::TooLarge)
        );
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let (_, ring, v) = setup(Algorithm::HS256);
        let mut c = claims();
        c.iss = "https://evil".into();
        let t = issue(ring.active().expect("a signing key"), &c).expect("issue succeeds");
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::WrongIssuer)
        );
        let mut c = claims();
        c.aud = "other".into();
        let t = issue(ring.active().expect("a signing key"), &c).expect("issue succeeds");
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::WrongAudience)
        );
        let mut c = claims();
        c.jti = "not-an-id".into();
        let t = issue(ring.active().expect("a signing key"), &c).expect("issue succeeds");
        assert_eq!(
            verify_uncached(&ring, &t, &v, NOW, Expiry::Enforce).err(),
            Some(TokenError::Malformed)
        );
    }
}
