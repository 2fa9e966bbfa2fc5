//! Duration parsing, as configuration reads it. Properties: nothing
//! panics; an accepted duration is digits then a known unit, and its value
//! is exactly the number times the unit.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = jwtd_core::duration::parse(text) {
        let split = text.find(|c: char| !c.is_ascii_digit()).expect("a unit");
        let (num, unit) = text.split_at(split);
        let n: u64 = num.parse().expect("digits");
        let expected = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            other => panic!("unit {other:?} accepted"),
        };
        assert_eq!(d, expected);
    }
});
