//! The JWS verifier on arbitrary input, and on valid tokens with arbitrary
//! modifications. Properties: nothing panics; a token that is not byte for
//! byte one we signed never verifies, with or without the verified-token
//! cache (which holds the genuine tokens while their variants are tried).
#![no_main]

use std::sync::OnceLock;

use jwtd_core::claims::AccessClaims;
use jwtd_core::keys::{Algorithm, KeyMaterial, KeyRing};
use jwtd_core::token::{self, Expiry, Validation};
use jwtd_core::verifier::{DEFAULT_CACHE_BYTES, Verifier};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_900_000_000;

struct Fixture {
    verifier: Verifier,
    validation: Validation,
    /// Genuine tokens, one per key.
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys: Vec<KeyMaterial> = [Algorithm::EdDSA, Algorithm::HS256, Algorithm::ES256]
            .into_iter()
            .map(|a| KeyMaterial::generate(a).expect("key generation"))
            .collect();
        let ring = KeyRing::new(&keys[0], &keys[1..]).expect("ring");
        let validation = Validation {
            issuer: "https://jwtd.fuzz".into(),
            audience: "jwtd".into(),
            leeway: 30,
        };
        let claims = AccessClaims {
            iss: validation.issuer.clone(),
            sub: "user".into(),
            aud: validation.audience.clone(),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 900,
            jti: jwtd_core::id::Id128::random().to_string(),
            sid: jwtd_core::id::Id128::random().to_string(),
            preferred_username: "user".into(),
            client_id: "jwtd".into(),
        };
        let tokens = keys
            .iter()
            .map(|k| {
                let signer = jwtd_core::keys::SigningKey::from_material(k).expect("signer");
                token::issue(&signer, &claims).expect("issue")
            })
            .collect();
        Fixture {
            verifier: Verifier::new(ring, DEFAULT_CACHE_BYTES),
            validation,
            tokens,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Arbitrary input as a token.
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let uncached =
            token::verify_uncached(f.verifier.ring(), text, &f.validation, NOW, Expiry::Enforce);
        let cached = f.verifier.verify(text, &f.validation, NOW, Expiry::Enforce);
        assert_eq!(uncached.is_ok(), cached.is_ok());
        if uncached.is_ok() {
            assert!(
                f.tokens.iter().any(|t| t == text),
                "a token we never signed verified"
            );
        }
        return;
    }
    // A genuine token, modified: pairs of (position, xor mask).
    let original = &f.tokens[usize::from(mode / 2) % f.tokens.len()];
    let mut bytes = original.as_bytes().to_vec();
    for pair in rest.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % bytes.len();
        bytes[at] ^= pair[2];
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let verified =
        token::verify_uncached(f.verifier.ring(), text, &f.validation, NOW, Expiry::Enforce);
    // The genuine token is in the cache: a modified one must not hit it.
    let genuine = f.verifier.verify(original, &f.validation, NOW, Expiry::Enforce);
    assert!(genuine.is_ok(), "the genuine token failed: {genuine:?}");
    let cached = f.verifier.verify(text, &f.validation, NOW, Expiry::Enforce);
    if text == original.as_str() {
        assert!(verified.is_ok() && cached.is_ok(), "the genuine token failed: {verified:?}");
    } else {
        assert!(verified.is_err(), "a modified token verified: {text}");
        assert!(cached.is_err(), "a modified token hit the cache: {text}");
    }
});
