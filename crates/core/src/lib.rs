//! # jwtd-core: the token model, with no I/O
//!
//! Everything security-critical in jwtd lives here, so it can be read, tested,
//! benchmarked and fuzzed on its own.
//!
//! * An **access token** is a compact JWS (`typ: at+jwt`) signed by one key of
//!   the [`keys::KeyRing`]; each key has exactly one pinned algorithm, and
//!   [`token::verify_uncached`] refuses any token whose header names another
//!   one. A server verifies through a [`verifier::Verifier`]: the ring and
//!   a cache of tokens verified against it, replaced whole on a key change.
//!   `jku`, `x5u` and `jwk` headers are ignored: `kid` is only a map key.
//! * A token is **revoked** when its `jti`, its session (`sid`), its user (a
//!   cut-off time: tokens issued strictly before it) or its signing key appear
//!   in the [`revocation::RevocationIndex`]. Each entry lives until the last
//!   token it could reject has expired, so the index is bounded by live tokens
//!   and never by a size limit (evicting an entry would un-revoke a token).
//! * Passwords are argon2id ([`password`]), with a dummy hash so unknown users
//!   cost as much as wrong passwords.
//!
//! ## Layout
//! * [`clock`]: Unix time in seconds, and a clock tests can fix.
//! * [`id`]: 128-bit random identifiers (`jti`, `sid`) and their text form.
//! * [`claims`]: access-token claims.
//! * [`json`]: request-body rules and the direct JSON writer of hot responses.
//! * [`keys`]: algorithms, signing and verifying keys, key generation, the key ring.
//! * [`token`]: issue and verify access tokens.
//! * [`revocation`]: the in-memory revocation index.
//! * [`verifier`]: a key ring and its verified-token cache, as one value.
//! * [`view`]: the revocation view (index, log position, freshness) and the
//!   request-path check, shared by the server and embedded verifiers.
//! * [`sigcache`]: that cache (memory-bounded, S3-FIFO, keyed by the whole
//!   token), so a reused token skips its signature check (never its
//!   revocation check).
//! * [`password`]: argon2id hashing.
//! * [`b64`]: base64url without padding, the only encoding JOSE uses.
//! * [`bearer`]: the `Authorization: Bearer` header, parsed on bytes.
//! * [`duration`]: durations as configuration writes them (`15m`).

pub mod b64;
pub mod bearer;
pub mod claims;
pub mod clock;
pub mod duration;
pub mod id;
pub mod json;
pub mod keys;
pub mod password;
pub mod revocation;
pub mod sigcache;
pub mod token;
pub mod verifier;
pub mod view;
pub mod wire;
