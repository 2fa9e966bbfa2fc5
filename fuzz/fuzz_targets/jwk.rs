//! Published JWKs, as a resource server reads them from the network
//! (`VerifyingKey::from_jwk`, used by jwtd-verify). Properties: nothing
//! panics; a key it accepts keeps the `kid` and the algorithm its JWK
//! pins (only EdDSA, ES256 or RS256), and checking any signature with it
//! does not panic.
#![no_main]

use jwtd_core::keys::VerifyingKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jwk) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok((kid, key)) = VerifyingKey::from_jwk(&jwk) {
        assert_eq!(Some(kid.as_str()), jwk["kid"].as_str());
        assert_eq!(Some(key.alg().as_str()), jwk["alg"].as_str());
        assert!(matches!(key.alg().as_str(), "EdDSA" | "ES256" | "RS256"));
        let _ = key.verify(data, data);
    }
});
