//! The application: shared state, startup, and the serve loop.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use aws_lc_rs::{digest, hmac};
use jwtd_core::clock::Clock;
use jwtd_core::id::fill_random;
use jwtd_core::keys::Jwk;
use jwtd_core::password::PasswordHasher;
use jwtd_core::revocation::{Revocation, RevocationIndex, RevocationKind};
use jwtd_core::sigcache::CacheStats;
use jwtd_core::token::Validation;
use jwtd_core::verifier::Verifier;
use jwtd_core::view::RevocationView;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;
use crate::fanout::{Event, Fanout};
use crate::store::{BulkSink, Store, StoreError};
use crate::{keyring, sweeper};

/// Everything a request handler or background task needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// System of record.
    pub store: Store,
    /// Keys; swapped whole on rotation so verification never takes a lock.
    pub keys: ArcSwap<Verifier>,
    /// The published JWKS, swapped with `keys`.
    pub jwks: ArcSwap<Vec<Jwk>>,
    /// Last seen [`Store::key_fingerprint`], to notice keys changed by
    /// another process (the CLI) and reload them.
    key_fingerprint: Mutex<[i64; 4]>,
    /// When the signing key next changes by itself (a staged rotation's
    /// switch), `i64::MAX` when nothing is scheduled: the ring is rebuilt
    /// then (see [`AppState::switch_keys_if_due`]).
    key_switch_at: AtomicI64,
    /// SHA-256 of the admin token: comparing fixed-length digests in
    /// constant time leaks neither the token nor its length.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Client and admin authentication checks in flight, for the failure
    /// limit.
    pub auth_limits: crate::auth_limits::AuthLimits,
    /// Woken whenever revocations reach the index, for SSE streams.
    pub revocation_events: Notify,
    /// Cluster mode: publishes committed revocations to the other instances.
    pub fanout: Option<Fanout>,
    /// Counters of the verified-token caches replaced by key changes, so
    /// the totals in `/metrics` never go down.
    retired_cache: std::sync::Mutex<CacheStats>,
    /// In-memory revocations, consulted on every request, with the log
    /// position applied and (cluster mode) the moment as of which every
    /// committed revocation is applied: the start of the last successful
    /// log catch-up. Protected requests fail closed once it is older than
    /// `max_staleness`. The same view an embedded verifier runs.
    pub view: RevocationView,
    /// Expected iss/aud/leeway.
    pub validation: Validation,
    /// Time source (fixed in some tests).
    pub clock: Clock,
    /// argon2id with the configured cost.
    pub hasher: PasswordHasher,
    /// Caps concurrent argon2 runs: each holds `argon2_memory_kib` of RAM and
    /// a blocking thread, and a login flood must not exhaust either. Shared
    /// (`Arc`) so a running hash owns its permit.
    pub hash_slots: Arc<Semaphore>,
    /// Derives each refresh token's successor from the token itself, so a
    /// replay within the grace gets the same successor without the server
    /// ever storing a token (only hashes).
    pub refresh_key: hmac::Key,
    /// Turns true when shutdown begins: long-lived responses (SSE streams)
    /// watch it and end.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
    /// Counts client deletions made here: long-lived responses authorised
    /// by a client (feed streams) watch it and check their client again,
    /// so a deletion ends them at once. Deletions elsewhere (the CLI,
    /// another instance) are found by the checks they make on their own.
    pub client_removals: tokio::sync::watch::Sender<u64>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Errors that stop startup.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened (configuration: exit 2).
    #[error("invalid configuration: database_url: {0}")]
    Database(StoreError),
    /// The data directory could not be created (configuration: exit 2).
    #[error("invalid configuration: data_dir: {0}")]
    DataDir(std::io::Error),
    /// The listen address could not be bound (configuration: exit 2).
    #[error("invalid configuration: listen: {0}")]
    Listen(std::io::Error),
    /// Another option is unusable (configuration: exit 2).
    #[error("invalid configuration: {0}: {1}")]
    Config(&'static str, String),
    /// The store failed after it opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing keys could not be loaded or generated.
    #[error(transparent)]
    Keys(#[from] keyring::KeyringError),
    /// The password hasher refused its parameters.
    #[error(transparent)]
    Password(#[from] jwtd_core::password::PasswordError),
}

impl StartError {
    /// Whether the configuration is at fault (exit 2) rather than the
    /// environment at run time (exit 1).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Database(_)
                | Self::DataDir(_)
                | Self::Listen(_)
                | Self::Config(..)
                | Self::Password(_)
        )
    }
}

impl AppState {
    /// Opens the store, loads keys and live revocations, builds the state.
    pub async fn new(config: Config, clock: Clock) -> Result<Self, StartError> {
        crate::telemetry::recorder();
        if config.database_url.is_sqlite() {
            create_private_dir(&config.data_dir).map_err(StartError::DataDir)?;
        }
        let store = Store::open(config.database_url.as_str())
            .await
            .map_err(StartError::Database)?;
        let now = clock.now();
        let ring = keyring::load_or_init(&store, &config, now).await?;
        let verifier = Verifier::new(ring, config.serve.verify_cache_size);
        let stored = store.keys().await?;
        let jwks = keyring::jwks(&stored, now);
        let switch_at = keyring::next_switch(&stored, now).unwrap_or(i64::MAX);
        let fingerprint = store.key_fingerprint().await?;
        let fanout = match &config.serve.redis_url {
            Some(url) => Some(
                Fanout::new(url.as_str(), &config.serve.redis_channel)
                    .map_err(|e| StartError::Config("redis_url", e.to_string()))?,
            ),
            None => None,
        };
        let admin_token_hash = config.serve.admin_token.as_ref().map(|t| {
            let d = digest::digest(&digest::SHA256, t.expose().as_bytes());
            let mut h = [0u8; 32];
            h.copy_from_slice(d.as_ref());
            h
        });
        let mut init = vec![0u8; 32];
        fill_random(&mut init);
        let secret = store.secret("refresh_successor_key", init).await?;
        let loader = Arc::new(IndexLoader::default());
        let (loaded, seq) = store.load_live(now, loader.clone()).await?;
        let loader = Arc::into_inner(loader)
            .ok_or_else(|| StoreError::Corrupt("the bulk load outlived itself".into()))?;
        let skipped = loader.skipped.into_inner();
        let index = loader.index;
        index_revoked_keys(&index, &stored);
        tracing::info!(revocations = loaded, skipped, "revocation index loaded");
        let hasher = PasswordHasher::new(config.password)?;
        let validation = Validation {
            issuer: config.issuer.clone(),
            audience: config.serve.audience.clone(),
            leeway: config.leeway_secs(),
        };
        Ok(Self(Arc::new(Inner {
            hash_slots: Arc::new(Semaphore::new(config.argon2_concurrency)),
            config,
            store,
            keys: ArcSwap::from_pointee(verifier),
            jwks: ArcSwap::from_pointee(jwks),
            key_fingerprint: Mutex::new(fingerprint),
            key_switch_at: AtomicI64::new(switch_at),
            admin_token_hash,
            auth_limits: crate::auth_limits::AuthLimits::default(),
            revocation_events: Notify::new(),
            fanout,
            retired_cache: std::sync::Mutex::default(),
            view: RevocationView::new(index, seq, now_ms()),
            validation,
            clock,
            hasher,
            refresh_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            shutting_down: tokio::sync::watch::Sender::new(false),
            client_removals: tokio::sync::watch::Sender::new(0),
        })))
    }

    /// Applies revocations this instance has just committed: counted in the
    /// metrics, indexed, and (cluster mode) published to the other
    /// instances. The log poll will see them again; indexing is idempotent,
    /// counting is not, hence a separate entry point from [`AppState::apply`].
    pub async fn committed(&self, revocations: &[Revocation]) {
        crate::telemetry::revocations_committed(revocations);
        self.apply(revocations);
        if let Some(f) = &self.fanout {
            let events: Vec<Event> = revocations.iter().map(Event::from).collect();
            f.publish(&events).await;
        }
    }

    /// Applies what a session revocation committed ([`AppState::committed`])
    /// and what it found revoked before: those are in the log already,
    /// but this instance may not have read them yet, and it is about to
    /// acknowledge them.
    pub async fn committed_sessions(&self, revoked: &crate::store::Revoked) {
        self.apply(&revoked.known);
        self.committed(&revoked.revocations).await;
    }

    /// The limit on failed client and admin authentications.
    pub fn auth_policy(&self) -> crate::auth_limits::Policy {
        crate::auth_limits::Policy {
            max_failures: self.config.serve.client_auth_max_failures,
            window: crate::config::secs(self.config.serve.login_failure_window),
        }
    }

    /// Tells the other instances that signing keys changed.
    pub async fn keys_changed(&self) {
        if let Some(f) = &self.fanout {
            f.publish(&[Event::Keys]).await;
        }
    }

    /// Whether this instance's revocation view may be missing revocations
    /// older than `max_staleness` (cluster mode only: an embedded server is
    /// the only writer that matters and applies its own commits at once).
    pub fn is_stale(&self) -> bool {
        self.store.is_shared() && self.staleness_ms() > millis(self.config.serve.max_staleness)
    }

    /// How far behind the shared log this instance's view may be, in ms.
    pub fn staleness_ms(&self) -> i64 {
        self.view.staleness_ms(now_ms())
    }

    /// Applies revocations that the store has committed to the index.
    pub fn apply(&self, revocations: &[Revocation]) {
        for (r, e) in self.view.apply(revocations) {
            tracing::warn!(kind = %r.kind, error = %e, "revocation not indexed");
        }
        if !revocations.is_empty() {
            self.revocation_events.notify_waiters();
        }
    }

    /// The verified-token cache's sizes now, and its counters since start
    /// (across key changes).
    pub fn cache_stats(&self) -> CacheStats {
        let now = self.keys.load().cache_stats();
        let retired = *self.retired_cache.lock().unwrap_or_else(|e| e.into_inner());
        now.with_counters_of(retired)
    }

    /// Rebuilds the key ring and JWKS from the store (after a rotation or
    /// revocation here or in another process).
    pub async fn reload_keys(&self) -> Result<(), StartError> {
        let now = self.clock.now();
        let fingerprint = self.store.key_fingerprint().await?;
        let stored = self.store.keys().await?;
        let ring = keyring::build(&stored, now)?;
        // Before the ring is swapped: a ring that holds a revoked key must
        // never be visible while the index does not reject that key.
        index_revoked_keys(self.view.index(), &stored);
        let fresh = Verifier::new(ring, self.config.serve.verify_cache_size);
        let old = self.keys.swap(Arc::new(fresh)).cache_stats();
        let mut retired = self.retired_cache.lock().unwrap_or_else(|e| e.into_inner());
        *retired = retired.with_counters_of(old);
        drop(retired);
        self.jwks.store(Arc::new(keyring::jwks(&stored, now)));
        let switch_at = keyring::next_switch(&stored, now).unwrap_or(i64::MAX);
        self.key_switch_at.store(switch_at, Ordering::Release);
        *self
            .key_fingerprint
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = fingerprint;
        Ok(())
    }

    /// Rebuilds the ring when a staged rotation's moment has come, so the
    /// promoted key starts signing here (every instance does the same from
    /// the same stored time). Called by the background poll.
    pub async fn switch_keys_if_due(&self) {
        if self.clock.now() < self.key_switch_at.load(Ordering::Acquire) {
            return;
        }
        match self.reload_keys().await {
            Ok(()) => tracing::info!("signing key switched (staged rotation)"),
            Err(e) => tracing::warn!(error = %e, "key switch failed; will retry"),
        }
    }

    /// Whether `kid` is a stored key this instance had not loaded yet; if
    /// so, the ring is reloaded (and answers for it from now on). An error
    /// when the store cannot tell.
    pub async fn learn_key(&self, kid: &str) -> Result<bool, StoreError> {
        if self.keys.load().ring().get(kid).is_some() {
            return Ok(true);
        }
        let stored = self.store.keys().await?;
        if !stored.iter().any(|k| k.material.kid == kid) {
            return Ok(false);
        }
        match self.reload_keys().await {
            Ok(()) => Ok(true),
            Err(StartError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Corrupt(e.to_string())),
        }
    }

    /// Reads revocations other processes logged (e.g. the CLI) since the
    /// last look, and applies them.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        const BATCH: i64 = 10_000;
        // Everything committed before this moment is in what we read below.
        let started = now_ms();
        let mut total = 0;
        loop {
            let seq = self.view.position();
            let batch = self.store.revocations_since(seq, BATCH).await?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            let list: Vec<Revocation> = batch.into_iter().map(|(_, r)| r).collect();
            self.apply(&list);
            self.view.advance_to(last);
            total += list.len();
            if list.len() < BATCH as usize {
                break;
            }
        }
        let fingerprint = self.store.key_fingerprint().await?;
        let known = *self
            .key_fingerprint
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if fingerprint != known
            && let Err(e) = self.reload_keys().await
        {
            tracing::warn!(error = %e, "key reload failed");
        }
        self.view.mark_fresh(started);
        Ok(total)
    }
}

/// Indexes the revocation of every stored key marked revoked. The key
/// table is the record that outlives the key's log entry (which is purged
/// when its tokens would have expired): whatever order purges, polls and
/// restarts come in, a ring holding a revoked key is paired with an index
/// that rejects it. Key entries are never swept (see
/// [`RevocationIndex::sweep`]).
fn index_revoked_keys(index: &RevocationIndex, stored: &[crate::store::StoredKey]) {
    for k in stored {
        if let Some(revoked_at) = k.revoked_at {
            let _ = index.insert_parts(
                RevocationKind::Key,
                &k.material.kid,
                revoked_at,
                k.verify_until.unwrap_or(revoked_at),
            );
        }
    }
}

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Fills an index from [`Store::load_live`]: the server at startup, and
/// `jwtd inspect`.
pub struct IndexLoader {
    /// The index being filled.
    pub index: RevocationIndex,
    /// Entries that were not ids of ours and so reject nothing.
    pub skipped: std::sync::atomic::AtomicUsize,
}

impl Default for IndexLoader {
    fn default() -> Self {
        Self {
            index: RevocationIndex::new(),
            skipped: Default::default(),
        }
    }
}

impl BulkSink for IndexLoader {
    fn push(&self, kind: RevocationKind, value: &str, revoked_at: i64, expires_at: i64) {
        // Only a token or session value that is not one of our ids can fail
        // here, and no token we signed carries such an id, so nothing it
        // could reject exists; count it rather than refuse to start.
        if self
            .index
            .insert_parts(kind, value, revoked_at, expires_at)
            .is_err()
        {
            self.skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A bound, ready-to-run server.
pub struct App {
    /// Shared state (tests use it to inspect the index).
    pub state: AppState,
    listener: TcpListener,
}

impl App {
    /// Builds the state and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config, clock: Clock) -> Result<Self, StartError> {
        let listen = config.serve.listen;
        let state = AppState::new(config, clock).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(StartError::Listen)?;
        Ok(Self { state, listener })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains (SSE streams end at
    /// once, requests in flight get `shutdown_grace`; see [`crate::serve`])
    /// and stops background tasks.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = sweeper::spawn(self.state.clone(), stop_rx.clone());
        if let Some(url) = self
            .state
            .config
            .serve
            .redis_url
            .as_ref()
            .map(|u| u.as_str().to_owned())
        {
            tasks.push(crate::fanout::spawn_subscriber(
                self.state.clone(),
                url,
                stop_rx,
            ));
        }
        let config = &self.state.config;
        if config.max_connections_lowered {
            tracing::warn!(
                max_connections = config.max_connections,
                "max_connections lowered to fit the open-file limit (raise `ulimit -n` for more)"
            );
        }
        let limits = crate::serve::Limits::of(config);
        let router = crate::http::router(self.state.clone());
        tracing::info!(addr = %self.listener.local_addr()?, "jwtd listening");
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            // Long-lived responses end now; the rest may finish.
            state.shutting_down.send_replace(true);
        };
        crate::serve::serve(self.listener, router, limits, shutdown).await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

/// Creates the data directory readable by its owner only: it holds private
/// signing keys.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
