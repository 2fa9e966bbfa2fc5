//! The command line (SPEC §6): `serve`, and admin commands that act on the
//! same data directory or database as a running server. The options
//! themselves are declared in [`crate::config::options`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use std::ffi::OsString;

use clap::{Command as ClapCommand, CommandFactory as _, FromArgMatches as _};

use crate::config::file::FileValues;
use crate::config::{Config, ConfigError, ServeOptions, StoreOptions};

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

/// Options shared by every subcommand: the config file, and where the
/// data lives.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// TOML configuration file (keys are the option names in snake_case).
    #[arg(long, global = true, env = "JWTD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store's options.
    #[command(flatten)]
    pub store: StoreOptions,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeOptions>),
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
    /// Manage registered clients (confidential OAuth clients).
    #[command(subcommand)]
    Client(ClientCommand),
}

/// `jwtd client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and secret (the secret only now).
    Add {
        /// What to call it (1-64 printable ASCII characters).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Allow it to call /oauth/introspect.
        #[arg(long)]
        introspect: bool,
        /// Allow it to read /revocations and /revocations/stream.
        #[arg(long)]
        feed: bool,
    },
    /// List registered clients.
    List,
    /// Delete a client; the sessions it created are revoked.
    Delete {
        /// Client id. Ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
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
    /// Rotate: the published next key signs once it has been in the JWKS
    /// for `jwks_max_age`; the old one keeps verifying its tokens.
    Rotate {
        /// Switch at once (emergency: verifiers that cached the JWKS may
        /// not know the new key yet).
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key: every token it signed stops working.
    Revoke {
        /// Key id. Ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// Why the command line could not be turned into a command and its
/// configuration.
#[derive(Debug)]
pub enum LoadError {
    /// A usage error (unknown flag, missing argument) or `--help`/`--version`:
    /// clap prints it and picks the exit code.
    Usage(clap::Error),
    /// A bad option value or combination: one line, exit 2.
    Config(ConfigError),
}

impl From<clap::Error> for LoadError {
    fn from(e: clap::Error) -> Self {
        match ConfigError::from_clap(&e) {
            Some(c) => Self::Config(c),
            None => Self::Usage(e),
        }
    }
}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Parses a whole command line (`args[0]` is the program name) with the
/// config file it names laid under it, and resolves the configuration the
/// command runs with. Commands other than `serve` take the serve options
/// from the environment and the file.
pub fn load<I, T>(args: I) -> Result<(Command, Config), LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let first = Cli::from_arg_matches(&Cli::command().try_get_matches_from(&args)?)?;
    // With a config file, a second pass sees its values under the flags.
    let (cli, file) = match &first.common.config {
        None => (first, FileValues::default()),
        Some(path) => {
            let file = FileValues::read(path)?;
            let cmd = file
                .lay_under(Cli::command())
                .mut_subcommand("serve", |s| file.lay_under(s));
            (
                Cli::from_arg_matches(&cmd.try_get_matches_from(&args)?)?,
                file,
            )
        }
    };
    let serve = match &cli.command {
        Command::Serve(options) => (**options).clone(),
        _ => {
            let cmd = file.lay_under(ServeOptions::augment_args(ClapCommand::new("jwtd")));
            ServeOptions::from_arg_matches(&cmd.try_get_matches_from(["jwtd"])?)?
        }
    };
    let config = Config::resolve(cli.common.store, serve)?;
    Ok((cli.command, config))
}
