//! What a verifier's handle and its background tasks (the feed and the
//! JWKS followers) share.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use jwtd_core::token::Validation;
use jwtd_core::verifier::Verifier as KeyVerifier;
use jwtd_core::view::RevocationView;
use tokio::sync::Notify;

use crate::keys;
use crate::options::{Credentials, Options};

/// The outcome counters of [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub unavailable: AtomicU64,
    pub jwks_fetches: AtomicU64,
}

pub(crate) fn bump(n: &AtomicU64) {
    n.fetch_add(1, Ordering::Relaxed);
}

/// What the handle and the background tasks share.
pub(crate) struct Shared {
    pub opts: Options,
    pub http: reqwest::Client,
    pub keys: ArcSwap<KeyVerifier>,
    pub view: RevocationView,
    pub validation: Validation,
    /// Woken by `verify` on an unknown `kid`.
    pub jwks_wanted: Notify,
    pub jwks_fetched_ms: AtomicI64,
    pub counters: Counters,
}

impl Shared {
    /// Adds the feed credentials to a request.
    pub(crate) fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.opts.credentials {
            Some(Credentials::Client { id, secret }) => req.basic_auth(id, Some(secret)),
            Some(Credentials::AdminToken(t)) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Fetches the JWKS and swaps in a new key verifier; answers its max-age.
    pub(crate) async fn refresh_keys(&self) -> Result<Duration, String> {
        self.jwks_fetched_ms.store(now_ms(), Ordering::Release);
        bump(&self.counters.jwks_fetches);
        let jwks = keys::fetch(&self.http, &self.opts.url).await?;
        self.keys
            .store(Arc::new(KeyVerifier::new(jwks.ring, self.opts.cache_bytes)));
        Ok(jwks.max_age)
    }
}

/// Unix time in ms.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
