//! # jwtd: a JWT issuer and revocation service that makes logout real
//!
//! Users log in and get short-lived access JWTs plus rotating refresh tokens;
//! logging out revokes a token, a session, all of a user's sessions or a
//! signing key, and every protected request checks signature *and*
//! revocation in memory. The token model itself lives in [`jwtd_core`].
//!
//! ## Layout
//! * [`accounts`]: username and password rules.
//! * [`auth_limits`]: limits on failed client and admin authentications.
//! * [`cli`]: the command line.
//! * [`config`]: flags, env and file merged and validated into a `Config`.
//! * [`telemetry`]: logging setup.
//! * [`state`]: the shared state of a running server, built at start.
//! * [`app`]: the wiring: state, listener, accept loop and background tasks.
//! * [`enforce`]: where a committed revocation takes effect on this instance.
//! * [`key_state`]: this instance's key ring and JWKS, reloaded when keys change.
//! * [`follow`]: keeping the view current with what other processes commit.
//! * [`index_loader`]: filling a revocation index from the store.
//! * [`serve`]: the accept loop: connection limits, timeouts, graceful shutdown.
//! * [`keyring`]: loading, generating and rotating signing keys.
//! * [`revoke`]: the one way anything revokes: commit, then enforce.
//! * [`tokens`]: minting access tokens, refresh-token hashes and successors.
//! * [`store`]: the system of record (SQLite embedded).
//! * [`fanout`]: cluster mode: revocation events through Redis.
//! * [`sweeper`]: background purge of expired state and revocation-log catch-up.
//! * [`http`]: the HTTP API, one module per resource.
//! * [`commands`]: what each subcommand does.

pub mod accounts;
pub mod app;
pub mod auth_limits;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod enforce;
pub mod fanout;
pub mod follow;
pub mod http;
pub mod index_loader;
pub mod key_state;
pub mod keyring;
pub mod revoke;
pub mod serve;
pub mod state;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod tokens;

pub use jwtd_core as core;
