//! The command line (SPEC §6): `serve`, and admin commands that act on the
//! same data directory or database as a running server.

use std::path::PathBuf;

use clap::{Args, FromArgMatches as _, Parser, Subcommand};

/// jwtd: a JWT issuer and revocation service that makes logout real.
#[derive(Debug, Parser)]
#[command(name = "jwtd", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every command shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand: where the data lives.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// TOML configuration file (keys are the option names in snake_case).
    #[arg(long, global = true, env = "JWTD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded database and keys [default: ./jwtd-data].
    #[arg(long, global = true, env = "JWTD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: the SQLite file in data_dir].
    #[arg(long, global = true, env = "JWTD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Revoke a token, a session or every session of a user.
    Revoke(RevokeArgs),
    /// Decode a token and say whether it is valid, expired or revoked, and
    /// why (exit 0 valid, 1 not valid, 2 usage error).
    Inspect {
        /// The access token.
        token: String,
    },
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired revocations, sessions, refresh hashes and keys now.
    Purge,
}

/// `jwtd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        /// Username (1-64 of A-Z a-z 0-9 . _ @ -).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Read the password from stdin (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user; their tokens stop working at once.
    Delete {
        /// Username.
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
    /// Set a user's password (from stdin) and log them out everywhere.
    Passwd {
        /// Username.
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Read the password from stdin (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// `jwtd revoke`: exactly one target.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// An access token (revokes its jti).
    #[arg(long, allow_hyphen_values = true)]
    pub token: Option<String>,
    /// A session id (revokes the session and all its tokens). Ids are
    /// base64url and may start with `-`.
    #[arg(long, allow_hyphen_values = true)]
    pub session: Option<String>,
    /// A username (revokes every session and token of the user); usernames
    /// may start with `-`.
    #[arg(long, allow_hyphen_values = true)]
    pub user: Option<String>,
}

/// `jwtd keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state.
    List,
    /// Generate a new active key; the old one keeps verifying its tokens.
    Rotate,
    /// Revoke a key: every token it signed stops working.
    Revoke {
        /// Key id. Ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// Options of `jwtd serve`; each is also `JWTD_<NAME>` and a config-file key.
#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "JWTD_LISTEN")]
    pub listen: Option<String>,
    /// Redis URL for cross-instance revocation fan-out.
    #[arg(long, env = "JWTD_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Redis pub/sub channel for this cluster's events [default: jwtd:events].
    #[arg(long, env = "JWTD_REDIS_CHANNEL")]
    pub redis_channel: Option<String>,
    /// `iss` of issued tokens [default: http://<listen>].
    #[arg(long, env = "JWTD_ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of issued tokens [default: jwtd].
    #[arg(long, env = "JWTD_AUDIENCE")]
    pub audience: Option<String>,
    /// Signing algorithm: EdDSA, ES256, RS256 or HS256 [default: EdDSA].
    #[arg(long, env = "JWTD_ALGORITHM")]
    pub algorithm: Option<String>,
    /// Access-token lifetime [default: 15m].
    #[arg(long, env = "JWTD_ACCESS_TTL")]
    pub access_ttl: Option<String>,
    /// Refresh-token lifetime from its issue [default: 30d].
    #[arg(long, env = "JWTD_REFRESH_TTL")]
    pub refresh_ttl: Option<String>,
    /// Grace for presenting the previous refresh token again [default: 10s].
    #[arg(long, env = "JWTD_REFRESH_REUSE_GRACE")]
    pub refresh_reuse_grace: Option<String>,
    /// Failed logins per (username, IP) before 429 [default: 5].
    #[arg(long, env = "JWTD_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<String>,
    /// Window for counting failed logins [default: 15m].
    #[arg(long, env = "JWTD_LOGIN_FAILURE_WINDOW")]
    pub login_failure_window: Option<String>,
    /// Clock-skew allowance for exp/nbf/iat [default: 30s].
    #[arg(long, env = "JWTD_LEEWAY")]
    pub leeway: Option<String>,
    /// Bearer secret for the admin API; unset = admin API off.
    #[arg(long, env = "JWTD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Whether POST /register is allowed [default: true].
    #[arg(long, env = "JWTD_OPEN_REGISTRATION")]
    pub open_registration: Option<String>,
    /// Cluster mode: how stale the revocation view may get [default: 5s].
    #[arg(long, env = "JWTD_MAX_STALENESS")]
    pub max_staleness: Option<String>,
    /// On SIGTERM/SIGINT, how long requests in flight may finish [default: 10s].
    #[arg(long, env = "JWTD_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,
    /// A request's head must arrive within this of its first byte [default: 10s].
    #[arg(long, env = "JWTD_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// An idle keep-alive connection is closed after this [default: 60s].
    #[arg(long, env = "JWTD_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Concurrent connections at most [default: 10000, or what the fd limit allows].
    #[arg(long, env = "JWTD_MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// argon2id memory in KiB [default: 19456].
    #[arg(long, env = "JWTD_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: Option<String>,
    /// argon2id passes [default: 2].
    #[arg(long, env = "JWTD_ARGON2_ITERATIONS")]
    pub argon2_iterations: Option<String>,
    /// Concurrent password hashes at most [default: number of CPUs].
    #[arg(long, env = "JWTD_ARGON2_CONCURRENCY")]
    pub argon2_concurrency: Option<String>,
    /// How often expired revocations and sessions are purged [default: 60s].
    #[arg(long, env = "JWTD_PURGE_INTERVAL")]
    pub purge_interval: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "JWTD_LOG_FORMAT")]
    pub log_format: Option<String>,
}

impl ServeArgs {
    /// The serve options as the environment (`JWTD_*`) sets them: every
    /// other subcommand runs with these, so env and config file mean the
    /// same to the CLI as to the server.
    pub fn from_env() -> Result<Self, clap::Error> {
        let cmd = <Self as Args>::augment_args(clap::Command::new("jwtd"));
        Self::from_arg_matches(&cmd.try_get_matches_from(["jwtd"])?)
    }
}
