//! The `Authorization` header parser. Properties: nothing panics; a token
//! it returns is a non-empty, trimmed part of the header that follows a
//! case-insensitive `Bearer` scheme.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(token)) = jwtd_core::bearer::parse(data) {
        assert!(!token.is_empty());
        assert_eq!(token.trim_ascii(), token);
        assert!(data.len() > 7 && data[..6].eq_ignore_ascii_case(b"bearer"));
        let found = data.windows(token.len()).any(|w| w == token.as_bytes());
        assert!(found, "the token is not part of the header");
    }
});
