//! # jwtd-verify: jwtd's tokens and revocations, checked in-process
//!
//! A resource server that trusts jwtd's access tokens usually has two
//! choices: verify signatures from the JWKS (fast, but a logged-out token
//! works until it expires) or ask jwtd on every request (correct, but a
//! network hop per request and jwtd on the critical path). This crate does
//! both at once: it verifies locally **and** keeps jwtd's revocation view
//! in memory, fed by jwtd's revocation snapshot and its SSE feed, so a
//! logout at jwtd is refused here within milliseconds, with no request to
//! jwtd per call.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use jwtd_verify::{Credentials, Options, Verifier};
//!
//! let verifier = Verifier::start(
//!     Options::new("http://127.0.0.1:8080", "http://127.0.0.1:8080", "jwtd")
//!         .credentials(Credentials::client("CLIENT_ID", "CLIENT_SECRET")),
//! )
//! .await?;
//! let app: axum::Router = axum::Router::new()
//!     .route("/hello", axum::routing::get(|auth: jwtd_verify::Auth| async move {
//!         format!("hello {}", auth.token.claims.preferred_username)
//!     }))
//!     .layer(verifier.layer());
//! # Ok(()) }
//! ```
//!
//! ## Module map
//! * [`options`]: what to connect to and how strictly ([`Options`]).
//! * [`verifier`]: [`Verifier`], the handle: `verify(&str)`, stats, and
//!   the background tasks it runs.
//! * [`keys`]: the JWKS, refreshed as its `Cache-Control` allows and on an
//!   unknown `kid` (at most once per cooldown).
//! * [`feed`]: the revocation snapshot (paged `GET /revocations`), then
//!   `GET /revocations/stream` from its cursor, resumed with
//!   `Last-Event-ID`, reloaded after a `reset`.
//! * [`layer`]: the tower layer and the axum extractor, answering 401 and
//!   503 exactly as jwtd does (SPEC §3).
//!
//! The revocation index and the check are `jwtd-core`'s
//! [`RevocationView`](jwtd_core::view::RevocationView), the very type the
//! server runs: token, session, user cut-off (with the same-second re-login
//! rule) and key revocations mean here what they mean there.
//!
//! ## The staleness contract
//! jwtd's feed sends every revocation as it commits and a heartbeat at
//! least once a second. The verifier is *fresh* as of the last event or
//! heartbeat it received (or, at start, of its snapshot). When that is
//! older than [`Options::max_staleness`] (default 5 s), jwtd may have
//! revoked tokens the verifier has not heard of: every request is answered
//! 503 `temporarily_unavailable` (fail closed) until the feed is back,
//! which the verifier retries by itself. Revocations it already knows stay
//! enforced whatever happens to jwtd.
//!
//! Not covered: HS256 (jwtd publishes no key for it; a verifier would need
//! the shared secret).

pub mod feed;
pub mod keys;
pub mod layer;
pub mod options;
mod shared;
pub mod verifier;

pub use jwtd_core::token::VerifiedToken;
pub use jwtd_core::view::Rejection;
pub use layer::{Auth, Denied, VerifyLayer};
pub use options::{Credentials, Options};
pub use verifier::{Refusal, StartError, Stats, Verifier};
