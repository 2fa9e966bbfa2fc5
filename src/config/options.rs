//! Every option of jwtd, declared once. Each field is the option's name in
//! the config file, its flag (`--kebab-case`), its environment variable
//! (`JWTD_UPPER_CASE`), its type and parser, its default and its
//! documentation; the README's option table is rendered from these
//! declarations (see `table.rs`). To add an option, add a field here.
//!
//! Defaults that depend on other options (`issuer`, `database_url`) or on
//! the machine (`max_connections`, `argon2_concurrency`) are `Option`s
//! resolved in [`super::Config::resolve`]; their doc comments end with
//! `[default: …]` in words.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Command};
use jwtd_core::keys::Algorithm;

use super::parse::{self, LogFormat, Secret, ServiceUrl};

/// Every option, as one clap command: the keys a config file may hold and
/// the rows of the README's table.
pub fn command() -> Command {
    ServeOptions::augment_args(StoreOptions::augment_args(Command::new("jwtd")))
}

/// Where the data lives: shared by every subcommand, since the admin
/// commands act on the same store as a running server.
#[derive(Debug, Clone, Args)]
pub struct StoreOptions {
    /// Embedded database and keys (created `0700`).
    #[arg(
        long,
        global = true,
        env = "JWTD_DATA_DIR",
        value_name = "DIR",
        default_value = "./jwtd-data"
    )]
    pub data_dir: PathBuf,
    /// The store; `postgres://…` is cluster mode (see `docs/cluster.md`)
    /// [default: sqlite://<data_dir>/jwtd.db].
    #[arg(long, global = true, env = "JWTD_DATABASE_URL", value_name = "URL", value_parser = parse::database_url)]
    pub database_url: Option<ServiceUrl>,
}

/// The options of `jwtd serve`. The other subcommands read them from the
/// environment and the config file only, so that `iss`, `aud`, leeway and
/// the login window mean the same to the CLI as to the server.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address to serve on.
    #[arg(long, env = "JWTD_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse::address)]
    pub listen: SocketAddr,
    /// Cross-instance revocation fan-out (cluster mode only) [default: none].
    #[arg(long, env = "JWTD_REDIS_URL", value_parser = parse::redis_url)]
    pub redis_url: Option<ServiceUrl>,
    /// The Redis pub/sub channel of this cluster.
    #[arg(long, env = "JWTD_REDIS_CHANNEL", default_value = "jwtd:events", value_parser = parse::text)]
    pub redis_channel: String,
    /// `iss` of issued tokens, checked on verify. Set it explicitly if the
    /// listen address can change, or old tokens stop verifying; cluster mode
    /// requires it [default: http://<listen>].
    #[arg(long, env = "JWTD_ISSUER", value_parser = parse::text)]
    pub issuer: Option<String>,
    /// `aud` of issued tokens, checked on verify.
    #[arg(long, env = "JWTD_AUDIENCE", default_value = "jwtd", value_parser = parse::text)]
    pub audience: String,
    /// `EdDSA`, `ES256`, `RS256` or `HS256`; changing it rotates to a new
    /// key, and old tokens keep verifying until they expire.
    #[arg(long, env = "JWTD_ALGORITHM", default_value = "EdDSA", value_parser = parse::algorithm)]
    pub algorithm: Algorithm,
    /// Access-token lifetime (at least `1s`).
    #[arg(long, env = "JWTD_ACCESS_TTL", default_value = "15m", value_parser = parse::ttl)]
    pub access_ttl: Duration,
    /// Lifetime of each refresh token from its issue (sliding).
    #[arg(long, env = "JWTD_REFRESH_TTL", default_value = "30d", value_parser = parse::ttl)]
    pub refresh_ttl: Duration,
    /// Window after a rotation in which the previous refresh token gets the
    /// same successor again.
    #[arg(long, env = "JWTD_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = parse::duration)]
    pub refresh_reuse_grace: Duration,
    /// Failed logins per (username, client IP) within the window before 429.
    #[arg(long, env = "JWTD_LOGIN_MAX_FAILURES", default_value = "5", value_parser = parse::count::<u32>)]
    pub login_max_failures: u32,
    /// That window; a successful login resets the count.
    #[arg(long, env = "JWTD_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse::ttl)]
    pub login_failure_window: Duration,
    /// Failed client or admin authentications per (client id or admin,
    /// client IP) within `login_failure_window` before 429.
    #[arg(long, env = "JWTD_CLIENT_AUTH_MAX_FAILURES", default_value = "20", value_parser = parse::count::<u32>)]
    pub client_auth_max_failures: u32,
    /// Clock-skew allowance for `exp`/`nbf`/`iat`.
    #[arg(long, env = "JWTD_LEEWAY", default_value = "30s", value_parser = parse::duration)]
    pub leeway: Duration,
    /// `Cache-Control: max-age` of the JWKS, and so how long a new key is
    /// published before it signs (a staged rotation waits that long).
    #[arg(long, env = "JWTD_JWKS_MAX_AGE", default_value = "60s", value_parser = parse::duration)]
    pub jwks_max_age: Duration,
    /// Bearer secret for the admin API (at least 16 characters); unset
    /// turns the admin API off [default: none].
    #[arg(long, env = "JWTD_ADMIN_TOKEN", hide_env_values = true, value_parser = parse::admin_token)]
    pub admin_token: Option<Secret>,
    /// Whether `POST /register` is allowed.
    #[arg(long, env = "JWTD_OPEN_REGISTRATION", default_value = "true", action = ArgAction::Set, value_parser = parse::boolean)]
    pub open_registration: bool,
    /// Cluster mode: how far behind the shared log an instance's revocation
    /// view may fall before protected requests fail closed (503).
    #[arg(long, env = "JWTD_MAX_STALENESS", default_value = "5s", value_parser = parse::ttl)]
    pub max_staleness: Duration,
    /// On SIGTERM/SIGINT: the listener closes, every feed stream ends at
    /// once, requests in flight may finish for at most this long; then exit
    /// 0 (requests cut off are logged).
    #[arg(long, env = "JWTD_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse::duration)]
    pub shutdown_grace: Duration,
    /// A request's whole head must arrive within this of its first byte, or
    /// the connection is closed (slowloris).
    #[arg(long, env = "JWTD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse::timeout)]
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this of the end of its
    /// head, or the connection is closed (with a 408 when it can still be
    /// written).
    #[arg(long, env = "JWTD_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse::timeout)]
    pub body_read_timeout: Duration,
    /// A keep-alive connection with no request in flight and no byte of the
    /// next one is closed after this; so is one whose response makes no
    /// write progress for this long (a client that stopped reading).
    #[arg(long, env = "JWTD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse::timeout)]
    pub idle_timeout: Duration,
    /// Connections served at once; past it a new connection is closed at
    /// once and the held ones keep being answered. The default is lowered
    /// (with a warning) to the open-file limit less 256; an explicit value
    /// over that exits 2 [default: 10000].
    #[arg(long, env = "JWTD_MAX_CONNECTIONS", value_parser = parse::count::<usize>)]
    pub max_connections: Option<usize>,
    /// argon2id memory (OWASP's 19 MiB); tests lower it, production should
    /// not.
    #[arg(long, env = "JWTD_ARGON2_MEMORY_KIB", default_value = "19456", value_parser = parse::number::<u32>)]
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    #[arg(long, env = "JWTD_ARGON2_ITERATIONS", default_value = "2", value_parser = parse::number::<u32>)]
    pub argon2_iterations: u32,
    /// Password hashes running at once, at most (each takes
    /// `argon2_memory_kib`) [default: the number of CPUs].
    #[arg(long, env = "JWTD_ARGON2_CONCURRENCY", value_parser = parse::count::<usize>)]
    pub argon2_concurrency: Option<usize>,
    /// Memory for the cache of verified tokens (`0` turns it off), so a
    /// client presenting its token again skips the signature check; about
    /// 1 KiB a token, so the default holds ~260,000 tokens. It grows with
    /// the tokens seen. Revocation is checked on every request either way.
    #[arg(long, env = "JWTD_VERIFY_CACHE_SIZE", default_value = "256MiB", value_parser = parse::bytes)]
    pub verify_cache_size: usize,
    /// How often expired revocations, sessions and refresh hashes are
    /// deleted.
    #[arg(long, env = "JWTD_PURGE_INTERVAL", default_value = "60s", value_parser = parse::ttl)]
    pub purge_interval: Duration,
    /// `text` or `json`; the level is set with `RUST_LOG`.
    #[arg(long, env = "JWTD_LOG_FORMAT", default_value = "text", value_parser = parse::log_format)]
    pub log_format: LogFormat,
}
