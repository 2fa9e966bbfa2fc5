//! The wiring of a server: builds the state, binds the listener, and runs
//! the accept loop beside the background tasks (the sweeper, the fan-out
//! subscriber), each given the parts of the state it uses.

use std::net::SocketAddr;

use jwtd_core::clock::Clock;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::{AppState, StartError};
use crate::sweeper;

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
        let config = &self.state.config;
        let mut tasks = sweeper::spawn(
            self.state.follower(),
            sweeper::Policy::of(config),
            stop_rx.clone(),
        );
        if let Some(url) = &config.serve.redis_url {
            tasks.push(crate::fanout::spawn_subscriber(
                self.state.follower(),
                url.as_str().to_owned(),
                config.serve.redis_channel.clone(),
                stop_rx,
            ));
        }
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
