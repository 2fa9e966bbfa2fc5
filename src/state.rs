//! The shared state of a running server: what request handlers use,
//! built once at start. Background tasks take only the parts they use
//! ([`crate::follow::Follower`]); the wiring that starts them is
//! [`crate::app`].

use std::ops::Deref;
use std::sync::Arc;

use aws_lc_rs::{digest, hmac};
use jwtd_core::clock::Clock;
use jwtd_core::id::fill_random;
use jwtd_core::password::PasswordHasher;
use jwtd_core::sigcache::CacheStats;
use jwtd_core::token::Validation;
use jwtd_core::view::RevocationView;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::enforce::{Enforcement, index_revoked_keys};
use crate::fanout::publish::Fanout;
use crate::follow::{Follower, now_ms};
use crate::index_loader::IndexLoader;
use crate::key_state::KeyState;
use crate::keyring;
use crate::revoke::Revocations;
use crate::store::{Store, StoreError};

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// System of record.
    pub store: Store,
    /// Signing and verification keys, and the published JWKS.
    pub keys: Arc<KeyState>,
    /// The in-memory revocation view, the feed's wake-ups and the
    /// fan-out: where committed revocations take effect.
    pub enforcement: Arc<Enforcement>,
    /// SHA-256 of the admin token: comparing fixed-length digests in
    /// constant time leaks neither the token nor its length.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Client and admin authentication checks in flight, for the failure
    /// limit.
    pub auth_limits: crate::auth_limits::AuthLimits,
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
        let stored = store.keys().await?;
        let keys =
            KeyState::load(&store, ring, &stored, config.serve.verify_cache_size, now).await?;
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
        let view = RevocationView::new(index, seq, now_ms());
        Ok(Self(Arc::new(Inner {
            hash_slots: Arc::new(Semaphore::new(config.argon2_concurrency)),
            config,
            store,
            keys: Arc::new(keys),
            enforcement: Arc::new(Enforcement::new(view, fanout)),
            admin_token_hash,
            auth_limits: crate::auth_limits::AuthLimits::default(),
            validation,
            clock,
            hasher,
            refresh_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            shutting_down: tokio::sync::watch::Sender::new(false),
        })))
    }

    /// The one way handlers revoke: commits, then enforces here (see
    /// [`crate::revoke`]).
    pub fn revocations(&self) -> Revocations<'_> {
        Revocations::enforced(&self.store, &self.config, &self.enforcement, &self.keys)
    }

    /// What the background tasks that follow the store take.
    pub fn follower(&self) -> Follower {
        Follower {
            store: self.store.clone(),
            enforcement: self.enforcement.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The limit on failed client and admin authentications.
    pub fn auth_policy(&self) -> crate::auth_limits::Policy {
        crate::auth_limits::Policy {
            max_failures: self.config.serve.client_auth_max_failures,
            window: crate::config::secs(self.config.serve.login_failure_window),
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
        self.enforcement.view.staleness_ms(now_ms())
    }

    /// The verified-token cache's sizes now, and its counters since start.
    pub fn cache_stats(&self) -> CacheStats {
        self.keys.cache_stats()
    }

    /// Rebuilds the key ring and JWKS from the store (after a rotation or
    /// revocation here or in another process).
    pub async fn reload_keys(&self) -> Result<(), keyring::KeyringError> {
        let index = self.enforcement.view.index();
        self.keys.reload(&self.store, index, self.clock.now()).await
    }

    /// Whether `kid` is a stored key this instance had not loaded yet; if
    /// so, the ring is reloaded. An error when the store cannot tell.
    pub async fn learn_key(&self, kid: &str) -> Result<bool, StoreError> {
        let index = self.enforcement.view.index();
        self.keys
            .learn(kid, &self.store, index, self.clock.now())
            .await
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
