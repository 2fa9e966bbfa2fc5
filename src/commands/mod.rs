//! What each subcommand does, given parsed arguments. Every command but
//! `serve` opens the same store as a running server (its data dir or
//! database URL) and acts on it directly; a running server picks up the
//! changes from the revocation log and the key table within a second.

mod client;
mod inspect;
mod keys;
mod revoke;
mod user;

use anyhow::Context as _;
use jwtd_core::clock::Clock;
use jwtd_core::keys::KeyRing;
use jwtd_core::token::Validation;

use crate::app::App;
use crate::cli::Command;
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

    async fn open(config: Config) -> Result<Self, CommandError> {
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
    async fn verifier(&self) -> Result<(KeyRing, Validation), CommandError> {
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

/// Runs a parsed command with its configuration ([`crate::config::load`]).
pub async fn run(command: Command, config: Config) -> Result<(), CommandError> {
    match command {
        // The serve options are already in `config`.
        Command::Serve(_) => serve(config).await,
        Command::User(cmd) => user::run(&Ctx::open(config).await?, cmd).await,
        Command::Revoke(args) => revoke::run(&Ctx::open(config).await?, args).await,
        Command::Inspect { token } => inspect::run(&Ctx::open(config).await?, &token).await,
        Command::Keys(cmd) => keys::run(&Ctx::open(config).await?, cmd).await,
        Command::Purge => purge(&Ctx::open(config).await?).await,
        Command::Client(cmd) => client::run(&Ctx::open(config).await?, cmd).await,
    }
}

async fn serve(config: Config) -> Result<(), CommandError> {
    crate::telemetry::init(config.serve.log_format);
    let app = App::build(config, Clock::system())
        .await
        .map_err(CommandError::Start)?;
    app.run(shutdown_signal()).await.context("server failed")?;
    Ok(())
}

async fn purge(ctx: &Ctx) -> Result<(), CommandError> {
    let window = crate::config::secs(ctx.config.serve.login_failure_window);
    let report = ctx
        .store
        .purge(ctx.now, ctx.config.leeway_secs(), ctx.now - window)
        .await
        .context("purge failed")?;
    println!(
        "purged {} revocations, {} sessions, {} refresh token hashes, {} keys",
        report.revocations, report.sessions, report.refresh_tokens, report.keys
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
