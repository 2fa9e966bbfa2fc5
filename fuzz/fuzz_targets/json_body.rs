//! The request-body rules (content type, optional bodies, JSON decoding)
//! on arbitrary content types and bodies, decoded into the shapes of
//! jwtd's request bodies. Properties: nothing panics; only a JSON content
//! type ever yields a value; an optional blank body is `None`.
#![no_main]

use jwtd_core::json::{BodyError, decode_body, is_json};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The shapes of `/login`, `/register` and `/logout` bodies.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Logout {
    token: Option<String>,
    scope: Option<Scope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scope {
    Local,
    Others,
    Global,
}

fn check<T: for<'de> Deserialize<'de>>(ct: Option<&[u8]>, body: &[u8], optional: bool) {
    match decode_body::<T>(ct, body, optional) {
        Ok(Some(_)) => assert!(is_json(ct)),
        Ok(None) => assert!(optional && body.iter().all(u8::is_ascii_whitespace)),
        Err(BodyError::NotJson) => assert!(!is_json(ct)),
        Err(BodyError::Invalid(_)) => assert!(is_json(ct)),
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: content-type length; then the content type, then the body.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (ct, body) = rest.split_at(n);
    let ct = (!ct.is_empty()).then_some(ct);
    check::<Credentials>(ct, body, false);
    check::<Logout>(ct, body, true);
    check::<serde_json::Value>(ct, body, false);
});
