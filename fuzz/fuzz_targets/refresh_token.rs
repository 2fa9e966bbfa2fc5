//! Refresh-token recognition and base64url decoding. Properties: nothing
//! panics; an accepted token is canonical (it re-encodes to itself) and
//! carries exactly 32 bytes.
#![no_main]

use jwtd_core::{b64, id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if id::is_refresh_token(text) {
        let bytes = b64::decode(text).expect("accepted but does not decode");
        assert_eq!(bytes.len(), id::REFRESH_TOKEN_BYTES);
        assert_eq!(
            b64::encode(&bytes),
            text,
            "a non-canonical encoding was accepted"
        );
    }
    if let Some(bytes) = b64::decode(text) {
        assert_eq!(
            b64::encode(&bytes),
            text,
            "base64url decoding is not canonical"
        );
    }
    let _ = id::Id128::parse(text);
});
