//! [`Verifier`]: the handle a service holds. It owns the key ring (from the
//! JWKS), the revocation view (from the feed) and the background tasks
//! that keep both current; `verify` never waits on the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jwtd_core::revocation::RevocationIndex;
use jwtd_core::token::{Expiry, TokenError, Validation, VerifiedToken};
use jwtd_core::verifier::Verifier as KeyVerifier;
use jwtd_core::view::{Rejection, RevocationView};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::options::Options;
use crate::shared::{Shared, bump, now_ms};
use crate::{feed, keys};

/// Why `verify` said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The token is refused, as jwtd would refuse it (401).
    Rejected(Rejection),
    /// Nothing has come from jwtd for `max_staleness`: the verifier cannot
    /// vouch that the token was not revoked (503, retry later).
    Unavailable,
}

/// Why the verifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The JWKS could not be fetched or read.
    #[error("jwtd's JWKS: {0}")]
    Jwks(String),
    /// The revocation snapshot could not be loaded.
    #[error("jwtd's revocation snapshot: {0}")]
    Snapshot(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

/// Counters and gauges for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// How old the verifier's revocation view may be, in ms.
    pub staleness_ms: i64,
    /// Position in jwtd's revocation log applied so far.
    pub position: i64,
    /// Live revocations held.
    pub revocations: usize,
    /// Keys that verify.
    pub keys: usize,
    /// Tokens accepted.
    pub accepted: u64,
    /// Tokens refused (401).
    pub rejected: u64,
    /// Requests refused because the view was stale (503).
    pub unavailable: u64,
    /// JWKS fetches since start.
    pub jwks_fetches: u64,
}

/// Stops the background tasks when the last handle goes.
struct Tasks(Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Verifies jwtd's access tokens, revocations included. Cheap to clone;
/// the background tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
    _tasks: Arc<Tasks>,
}

impl Verifier {
    /// Fetches the JWKS and the revocation snapshot (so the first request
    /// is already checked against both), then follows the feed and the
    /// JWKS in the background. Needs a Tokio runtime.
    pub async fn start(opts: Options) -> Result<Self, StartError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let validation = Validation {
            issuer: opts.issuer.clone(),
            audience: opts.audience.clone(),
            leeway: i64::try_from(opts.leeway.as_secs()).unwrap_or(i64::MAX),
        };
        let jwks = keys::fetch(&http, &opts.url)
            .await
            .map_err(StartError::Jwks)?;
        let shared = Arc::new(Shared {
            keys: ArcSwap::from_pointee(KeyVerifier::new(jwks.ring, opts.cache_bytes)),
            view: RevocationView::new(RevocationIndex::new(), 0, now_ms()),
            opts,
            http,
            validation,
            jwks_wanted: Notify::new(),
            jwks_fetched_ms: AtomicI64::new(now_ms()),
            counters: Default::default(),
        });
        feed::load_snapshot(&shared)
            .await
            .map_err(StartError::Snapshot)?;
        let follow = {
            let s = shared.clone();
            tokio::spawn(async move { feed::follow(&s).await })
        };
        let jwks = {
            let s = shared.clone();
            tokio::spawn(async move { follow_jwks(&s, jwks.max_age).await })
        };
        let sweep = {
            let s = shared.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    s.view.index().sweep(now_ms() / 1000);
                }
            })
        };
        Ok(Self {
            shared,
            _tasks: Arc::new(Tasks(vec![
                follow.abort_handle(),
                jwks.abort_handle(),
                sweep.abort_handle(),
            ])),
        })
    }

    /// Verifies `token` as `GET /protected` would: 503 when stale, else
    /// signature, claims and revocation. Never touches the network.
    pub fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, Refusal> {
        let s = &self.shared;
        let now_ms = now_ms();
        let max = i64::try_from(s.opts.max_staleness.as_millis()).unwrap_or(i64::MAX);
        if s.view.is_stale(now_ms, max) {
            bump(&s.counters.unavailable);
            return Err(Refusal::Unavailable);
        }
        let keys = s.keys.load();
        match s
            .view
            .check(&keys, &s.validation, token, now_ms / 1000, Expiry::Enforce)
        {
            Ok(t) => {
                bump(&s.counters.accepted);
                Ok(t)
            }
            Err(r) => {
                if r == Rejection::Invalid(TokenError::UnknownKey) {
                    s.jwks_wanted.notify_one();
                }
                bump(&s.counters.rejected);
                Err(Refusal::Rejected(r))
            }
        }
    }

    /// Counters and gauges, for metrics.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let c = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Stats {
            staleness_ms: s.view.staleness_ms(now_ms()),
            position: s.view.position(),
            revocations: s.view.index().len(),
            keys: s.keys.load().ring().len(),
            accepted: c(&s.counters.accepted),
            rejected: c(&s.counters.rejected),
            unavailable: c(&s.counters.unavailable),
            jwks_fetches: c(&s.counters.jwks_fetches),
        }
    }
}

/// Refreshes the JWKS when its max-age runs out, and when `verify` met an
/// unknown `kid`, but never twice within the cooldown.
async fn follow_jwks(s: &Shared, mut max_age: Duration) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(max_age) => {}
            () = s.jwks_wanted.notified() => {
                let since = now_ms() - s.jwks_fetched_ms.load(Ordering::Acquire);
                let cooldown = i64::try_from(s.opts.jwks_cooldown.as_millis()).unwrap_or(i64::MAX);
                if since < cooldown {
                    let wait = u64::try_from(cooldown - since).unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        match s.refresh_keys().await {
            Ok(age) => max_age = age,
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys held");
                max_age = Duration::from_secs(1).max(s.opts.jwks_cooldown);
            }
        }
    }
}
