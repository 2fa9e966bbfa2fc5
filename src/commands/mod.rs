//! What each subcommand does, given parsed arguments. Every command but
//! `serve` opens the same store as a running server (its data dir or
//! database URL) and acts on it directly; a running server picks up the
//! changes from the revocation log and the key table within a second.

mod client;
mod ctx;
mod inspect;
mod keys;
mod revoke;
mod user;

pub use ctx::{CommandError, Ctx};

use crate::app::App;
use crate::cli::Command;
use crate::config::Config;
use anyhow::Context as _;
use jwtd_core::clock::Clock;

/// Runs a parsed command with its configuration ([`crate::cli::load`]).
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
