//! 128-bit random identifiers for tokens (`jti`) and sessions (`sid`).
//!
//! They are kept as raw bytes rather than strings so the revocation index can
//! store 16 bytes per entry and hash them for free (the bytes are already
//! uniformly random), and they are written as 22 characters of base64url.

use std::fmt;

/// A 128-bit identifier drawn from the system CSPRNG.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Id128(pub [u8; 16]);

/// Writes the 16 bytes whole: the revocation index's hasher takes 8 of
/// them as the hash (they are uniformly random already).
impl std::hash::Hash for Id128 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

/// 64×64→128-bit multiply, folded: the mixing step of foldhash/wyhash,
/// shared by the hashes of the revocation index and the token cache.
pub(crate) fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Id128 {
    /// A fresh random identifier (128 bits from the OS CSPRNG).
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        fill_random(&mut b);
        Self(b)
    }

    /// Parses the 22-character base64url form; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 22 {
            return None;
        }
        // 22 base64 characters decode to at most 18 bytes; exactly 16 here.
        // The engine rejects non-zero trailing bits, so each id has exactly
        // one text form and cannot dodge a revocation by a variant spelling.
        // No allocation: this runs twice per protected request.
        let mut buf = [0u8; 18];
        let n = crate::b64::decode_into(text, &mut buf)?;
        let arr: [u8; 16] = buf.get(..n)?.try_into().ok()?;
        Some(Self(arr))
    }
}

impl Id128 {
    /// Parses a UUID in its canonical text form (lowercase hex,
    /// `8-4-4-4-12`), as user ids are written; anything else is `None`, so
    /// each id has one text form here too.
    pub fn parse_uuid(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        let mut out = [0u8; 16];
        let mut digits = b.iter().filter(|&&c| c != b'-');
        for byte in &mut out {
            let hi = hex_digit(*digits.next()?)?;
            let lo = hex_digit(*digits.next()?)?;
            *byte = hi << 4 | lo;
        }
        Some(Self(out))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Id128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::b64::encode(self.0))
    }
}

impl fmt::Debug for Id128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id128({self})")
    }
}

/// Fills `buf` from the OS CSPRNG (via aws-lc).
///
/// A failing system RNG leaves no safe way to mint secrets, so it aborts
/// rather than return predictable bytes.
#[allow(clippy::expect_used)]
pub fn fill_random(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("system random number generator failed");
}

/// `n` random bytes as unpadded base64url: refresh tokens and secrets.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill_random(&mut b);
    crate::b64::encode(b)
}

/// Bytes of randomness in a refresh token.
pub const REFRESH_TOKEN_BYTES: usize = 32;

/// Whether `s` has the form of a refresh token we issue:
/// [`REFRESH_TOKEN_BYTES`] in unpadded base64url (43 characters). Anything
/// else is not worth a store round trip.
pub fn is_refresh_token(s: &str) -> bool {
    let mut out = [0u8; REFRESH_TOKEN_BYTES];
    s.len() == 43 && crate::b64::decode_into(s, &mut out) == Some(REFRESH_TOKEN_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_recognised_by_form() {
        assert!(is_refresh_token(&random_token(REFRESH_TOKEN_BYTES)));
        assert!(!is_refresh_token(&random_token(31)));
        assert!(!is_refresh_token(&format!("{}=", random_token(32))));
        let mut t = random_token(REFRESH_TOKEN_BYTES);
        t.replace_range(0..1, "+");
        assert!(!is_refresh_token(&t));
    }

    #[test]
    fn round_trips_and_rejects_other_forms() {
        let id = Id128::random();
        let s = id.to_string();
        assert_eq!(s.len(), 22);
        assert_eq!(Id128::parse(&s), Some(id));
        assert_eq!(Id128::parse("short"), None);
        assert_eq!(Id128::parse(&format!("{s}=")), None);
        assert_ne!(Id128::random(), Id128::random());
    }

    #[test]
    fn rejects_non_canonical_last_character() {
        let s = Id128([0; 16]).to_string(); // "AAAA…AA": last char carries 2 spare bits
        let mut alt = s.clone();
        alt.pop();
        alt.push('B');
        assert_eq!(Id128::parse(&s), Some(Id128([0; 16])));
        assert_eq!(Id128::parse(&alt), None);
    }

    #[test]
    fn uuids_parse_in_their_one_canonical_form() {
        let id = Id128::parse_uuid("0192f1b4-7c2e-7a51-9c3d-1e2f3a4b5c6d");
        assert_eq!(
            id.map(|i| i.0),
            Some([
                0x01, 0x92, 0xf1, 0xb4, 0x7c, 0x2e, 0x7a, 0x51, 0x9c, 0x3d, 0x1e, 0x2f, 0x3a, 0x4b,
                0x5c, 0x6d
            ])
        );
        for bad in [
            "0192F1B4-7C2E-7A51-9C3D-1E2F3A4B5C6D",
            "0192f1b47c2e7a519c3d1e2f3a4b5c6d",
            "0192f1b4-7c2e-7a51-9c3d-1e2f3a4b5c6",
            "0192f1b4-7c2e-7a51-9c3d-1e2f3a4b5c6g",
            "0192f1b4+7c2e-7a51-9c3d-1e2f3a4b5c6d",
            "",
        ] {
            assert_eq!(Id128::parse_uuid(bad), None, "{bad}");
        }
    }
}
