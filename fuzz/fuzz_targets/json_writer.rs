//! The direct JSON writer of hot responses (its own SWAR escape check).
//! Property: whatever the strings, the output parses as JSON and gives the
//! same strings back.
#![no_main]

use jwtd_core::json::JsonObject;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let (a, b) = text.split_at(mid);
    let body = JsonObject::with_capacity(64)
        .str("a", a)
        .int("n", i64::from(data.len() as u32))
        .str("b", b)
        .finish();
    let parsed: serde_json::Value = serde_json::from_slice(&body).expect("invalid JSON written");
    assert_eq!(parsed["a"], a);
    assert_eq!(parsed["b"], b);
    assert_eq!(parsed["n"], data.len() as u64);
});
