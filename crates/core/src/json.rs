//! JSON at the edge of the HTTP layer, without I/O: the rules a request
//! body must meet, and a direct writer for the bodies of the hottest
//! responses. Both are here so they can be tested and fuzzed on their own.
//!
//! The writer exists because `serde_json` escapes a string byte by byte
//! through its formatter, the largest cost of the `GET /protected`
//! handler (see `docs/benchmarks.md`). Claims are almost always plain text (ids, usernames from a
//! restricted alphabet), so a string that needs no escape is copied as is
//! and any other goes through `serde_json`, which escapes exactly as JSON
//! requires.

use std::io::Write as _;

use serde::de::DeserializeOwned;

/// Why a request body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The content type is not JSON (415).
    NotJson,
    /// Malformed JSON, a missing field or a wrong type (400); the message
    /// is client-facing.
    Invalid(String),
}

/// Whether a `Content-Type` value names JSON: `application/json` or any
/// `application/*+json`, parameters and case aside.
pub fn is_json(content_type: Option<&[u8]>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let lower = essence.to_ascii_lowercase();
    lower == b"application/json"
        || (lower.starts_with(b"application/") && lower.ends_with(b"+json"))
}

/// Decodes a JSON request body (SPEC §5): a non-JSON content type is
/// [`BodyError::NotJson`]; with `optional`, a body of only whitespace is
/// `Ok(None)` whatever its type.
pub fn decode_body<T: DeserializeOwned>(
    content_type: Option<&[u8]>,
    bytes: &[u8],
    optional: bool,
) -> Result<Option<T>, BodyError> {
    if optional && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json(content_type) {
        return Err(BodyError::NotJson);
    }
    // Every request body is an object: serde would also read a struct from
    // an array of its fields (`[null, null]`), which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BodyError::Invalid("JSON body must be an object".into()));
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| BodyError::Invalid(format!("invalid JSON body: {e}")))
}

/// A JSON object built field by field.
pub struct JsonObject {
    buf: Vec<u8>,
}

impl JsonObject {
    /// An empty object with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self { buf }
    }

    fn key(&mut self, key: &'static str) {
        // Keys are literals of ours: plain names, never escaped.
        debug_assert!(!needs_escape(key.as_bytes()), "{key}");
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Adds a string field.
    pub fn str(mut self, key: &'static str, value: &str) -> Self {
        self.key(key);
        push_str(&mut self.buf, value);
        self
    }

    /// Adds an integer field.
    pub fn int(mut self, key: &'static str, value: i64) -> Self {
        self.key(key);
        // Writing into a Vec cannot fail.
        let _ = write!(self.buf, "{value}");
        self
    }

    /// The finished object's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }
}

/// Appends `s` as a JSON string.
fn push_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail, and a &str always serialises.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether any byte is a control character, `"` or `\\`: checked eight
/// bytes at a time (SWAR), which a byte loop with three comparisons is not.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Sets the high bit of each byte of `x` that is below `n` (exact for
    // bytes below 0x80; bytes at or above are excluded by `!x`).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let zero = |x: u64| below(x, 1);
    let special = |word: [u8; 8]| {
        let x = u64::from_ne_bytes(word);
        below(x, 0x20) | zero(x ^ (ONES * 0x22)) | zero(x ^ (ONES * 0x5c)) != 0
    };
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if special(word) {
            return true;
        }
    }
    // The tail padded with a plain byte: one more word, not a byte loop
    // (most claims are short, so the tail is much of the work).
    let rest = chunks.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    special(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_follow_the_spec_rules() {
        let json = Some(&b"application/json; charset=utf-8"[..]);
        assert!(is_json(Some(b"Application/Problem+JSON")));
        assert!(!is_json(Some(b"text/json")) && !is_json(None));
        let v: Result<Option<serde_json::Value>, _> = decode_body(json, br#"{"a":1}"#, false);
        assert_eq!(v, Ok(Some(serde_json::json!({"a": 1}))));
        let empty: Result<Option<serde_json::Value>, _> = decode_body(None, b"  ", true);
        assert_eq!(empty, Ok(None));
        let wrong: Result<Option<serde_json::Value>, _> = decode_body(None, b"{}", true);
        assert_eq!(wrong, Err(BodyError::NotJson));
        let bad: Result<Option<serde_json::Value>, _> = decode_body(json, b"{", false);
        assert!(matches!(bad, Err(BodyError::Invalid(_))));
        for not_an_object in [&b"[null, null]"[..], b" 1", b"null", b"\"x\""] {
            let r: Result<Option<serde_json::Value>, _> = decode_body(json, not_an_object, true);
            assert!(matches!(r, Err(BodyError::Invalid(_))), "{not_an_object:?}");
        }
    }

    #[test]
    fn matches_serde_json_for_plain_and_awkward_strings() {
        for s in [
            "",
            "alice",
            "quote\"back\\slash",
            "ctl\u{0}\u{1f}\n\t",
            "ünïcødé ✓",
            "\u{7f}",
        ] {
            let body = JsonObject::with_capacity(8)
                .str("k", s)
                .int("n", -42)
                .str("also", s)
                .finish();
            let expected = serde_json::json!({"k": s, "n": -42, "also": s});
            let parsed: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(parsed, expected, "{s:?}");
        }
        assert_eq!(JsonObject::with_capacity(2).finish(), b"{}");
    }

    #[test]
    fn needs_escape_finds_every_special_byte_at_every_position() {
        for len in 0..24 {
            let plain = vec![b'a'; len];
            assert!(!needs_escape(&plain));
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\'] {
                    let mut s = plain.clone();
                    s[at] = special;
                    assert!(needs_escape(&s), "{special:#x} at {at} of {len}");
                }
                // Neighbours of the special bytes, and non-ASCII, are plain.
                for ok in [0x20u8, b'#', b'[', b']', 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
                    let mut s = plain.clone();
                    s[at] = ok;
                    assert!(!needs_escape(&s), "{ok:#x} at {at} of {len}");
                }
            }
        }
    }
}
