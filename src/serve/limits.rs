//! The connection knobs of the configuration, as the accept loop and each
//! connection's watchdog read them.

use std::time::Duration;

use crate::config::Config;

/// The connection knobs of [`Config`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A head must arrive within this of its first byte.
    pub header_read_timeout: Duration,
    /// An idle connection, or one whose write has waited this long, is
    /// closed.
    pub idle_timeout: Duration,
    /// A request body must arrive within this of its head.
    pub body_read_timeout: Duration,
    /// Connections served at once, at most.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The limits a configuration sets.
    pub fn of(config: &Config) -> Self {
        Self {
            header_read_timeout: config.serve.header_read_timeout,
            idle_timeout: config.serve.idle_timeout,
            body_read_timeout: config.serve.body_read_timeout,
            max_connections: config.max_connections,
            shutdown_grace: config.serve.shutdown_grace,
        }
    }
}
