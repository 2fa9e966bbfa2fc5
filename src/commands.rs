//! What each subcommand does, given parsed arguments.

use anyhow::Context as _;
use jwtd_core::clock::Clock;

use crate::app::{App, StartError};
use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError};

/// A failed command, classified for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad configuration or usage: exit 2.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Startup failed because of configuration (database, listen, data dir): exit 2.
    #[error(transparent)]
    Start(StartError),
    /// Anything else: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CommandError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Start(StartError::Other(_)) => 1,
            Self::Start(_) => 2,
            Self::Other(_) => 1,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&cli.common, &args)?;
            crate::telemetry::init(config.log_format);
            let app = App::build(config, Clock::system())
                .await
                .map_err(CommandError::Start)?;
            app.run(shutdown_signal()).await.context("server failed")?;
            Ok(())
        }
    }
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
