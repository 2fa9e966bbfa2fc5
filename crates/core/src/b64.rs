//! base64url without padding (RFC 7515 §2), the only encoding JOSE uses.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes into `out`, returning the decoded length; `None` on bad input or
/// if `out` is too small.
pub fn decode_into(text: impl AsRef<[u8]>, out: &mut [u8]) -> Option<usize> {
    URL_SAFE_NO_PAD.decode_slice(text, out).ok()
}

/// Decodes unpadded base64url; padding or any other alphabet is an error.
pub fn decode(text: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
