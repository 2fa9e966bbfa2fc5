//! What the commands share: the store and configuration they act on, and
//! how their failures map to exit codes.

use anyhow::Context as _;
use jwtd_core::clock::Clock;
use jwtd_core::keys::KeyRing;
use jwtd_core::token::Validation;

use crate::config::{Config, ConfigError};
use crate::keyring;
use crate::state::{StartError, create_private_dir};
use crate::store::Store;

/// A failed command, classified for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad configuration or usage: exit 2.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Startup failed because of configuration (database, listen, data dir): exit 2.
    #[error(transparent)]
    Start(StartError),
    /// `inspect` found the token not valid: exit 1.
    #[error("token not valid: {0}")]
    NotValid(String),
    /// Anything else: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CommandError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Start(e) if e.is_configuration() => 2,
            Self::Start(_) => 1,
            Self::NotValid(_) | Self::Other(_) => 1,
        }
    }
}

/// What a non-serve command works with.
pub struct Ctx {
    /// Configuration (flags, env, file).
    pub config: Config,
    /// The store the server uses.
    pub store: Store,
    /// Now.
    pub now: i64,
}

impl Ctx {
    /// Revocations through the CLI: committed only; a running server
    /// enforces them from the log.
    pub fn revocations(&self) -> crate::revoke::Revocations<'_> {
        crate::revoke::Revocations::offline(&self.store, &self.config)
    }

    pub(super) async fn open(config: Config) -> Result<Self, CommandError> {
        if config.database_url.is_sqlite() {
            create_private_dir(&config.data_dir)
                .map_err(|e| CommandError::Start(StartError::DataDir(e)))?;
        }
        let store = Store::open(config.database_url.as_str())
            .await
            .map_err(|e| CommandError::Start(StartError::Database(e)))?;
        Ok(Self {
            config,
            store,
            now: Clock::system().now(),
        })
    }
}

impl Ctx {
    /// The key ring and validation rules a server with this configuration
    /// verifies with.
    pub(super) async fn verifier(&self) -> Result<(KeyRing, Validation), CommandError> {
        let keys = self.store.keys().await.context("reading keys")?;
        let ring = keyring::build(&keys, self.now).map_err(|e| anyhow::anyhow!(e))?;
        let validation = Validation {
            issuer: self.config.issuer.clone(),
            audience: self.config.serve.audience.clone(),
            leeway: self.config.leeway_secs(),
        };
        Ok((ring, validation))
    }
}
