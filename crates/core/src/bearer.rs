//! The `Authorization: Bearer` header (RFC 6750 §2.1), parsed on bytes.

/// The header names a bearer token but carries no usable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The token of an `Authorization` header value: `Ok(None)` when the value
/// uses another scheme (no bearer credentials at all), `Err` when it says
/// `Bearer` but the token is missing or not ASCII-compatible UTF-8.
///
/// Works on the header's bytes: the token is ASCII when it is anything we
/// issued, and checking that once (in `from_utf8`, word at a time) is all
/// the validation the verifier needs before it parses the token strictly.
pub fn parse(value: &[u8]) -> Result<Option<&str>, Malformed> {
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return if value.eq_ignore_ascii_case(b"bearer") {
            Err(Malformed)
        } else {
            Ok(None)
        };
    };
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(Malformed);
    }
    std::str::from_utf8(token).map(Some).map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_trimmed() {
        assert_eq!(parse(b"Bearer a.b.c"), Ok(Some("a.b.c")));
        assert_eq!(parse(b"bEaReR   a.b.c  "), Ok(Some("a.b.c")));
        // Another scheme is "no credentials", not a bad token.
        assert_eq!(parse(b"Basic dXNlcjpwYXNz"), Ok(None));
        assert_eq!(parse(b"Bearerx a.b.c"), Ok(None));
    }

    #[test]
    fn a_bearer_without_a_usable_token_is_malformed() {
        for v in [&b"Bearer"[..], b"bearer", b"Bearer    ", b"Bearer \xff\xfe"] {
            assert_eq!(parse(v), Err(Malformed), "{v:?}");
        }
    }
}
