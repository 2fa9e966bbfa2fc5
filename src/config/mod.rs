//! Configuration: every option declared once ([`options`]), read from flags,
//! `JWTD_*` environment variables and a TOML file with precedence flag >
//! env > file > default ([`file`]), parsed by one parser per kind of value
//! ([`parse`]) and resolved into a [`Config`] with the checks that span
//! options. Every error names its option and exits 2.

pub mod file;
pub mod options;
pub mod parse;
pub mod table;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::FromArgMatches as _;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use jwtd_core::password::PasswordParams;

pub use options::{ServeOptions, StoreOptions};
pub use parse::{LogFormat, Secret, ServiceUrl};

/// A configuration problem: the process prints it on one line and exits 2.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {option}: {message}")]
pub struct ConfigError {
    /// The option at fault, as written in the config file.
    pub option: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `option`.
    pub fn new(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            option: option.into(),
            message: message.into(),
        }
    }

    /// The option and message of a clap error about a value (a flag's, a
    /// variable's or a file's); `None` for other usage errors, which clap
    /// reports itself.
    pub(crate) fn from_clap(e: &clap::Error) -> Option<Self> {
        if !matches!(
            e.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            return None;
        }
        // clap names the argument as `--access-ttl <ACCESS_TTL>`.
        let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
            return None;
        };
        let flag = arg.split_whitespace().next().unwrap_or(arg);
        let option = flag.trim_start_matches('-').replace('-', "_");
        let message = match std::error::Error::source(e) {
            Some(source) => source.to_string(),
            None => match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => format!("{v:?} is not a valid value"),
                _ => e.kind().to_string(),
            },
        };
        Some(Self::new(option, message))
    }
}

/// The validated configuration: the options as given, and what is derived
/// from them. `Debug` hides the admin token and URL passwords.
#[derive(Clone, Debug)]
pub struct Config {
    /// Every `serve` option. Read `issuer`, `max_connections` and
    /// `argon2_*` from the resolved fields below, not from here.
    pub serve: ServeOptions,
    /// Where the embedded database lives.
    pub data_dir: PathBuf,
    /// The store: `sqlite://…` (embedded) or `postgres://…` (cluster).
    pub database_url: ServiceUrl,
    /// `iss` of issued tokens (an explicit `issuer`, or `http://<listen>`).
    pub issuer: String,
    /// Concurrent connections at most.
    pub max_connections: usize,
    /// Set when the default `max_connections` was lowered to fit the file
    /// descriptor limit (the server warns at start).
    pub max_connections_lowered: bool,
    /// argon2id cost.
    pub password: PasswordParams,
    /// Concurrent password hashes at most (each takes `memory_kib`).
    pub argon2_concurrency: usize,
}

impl Config {
    /// Derives what depends on more than one option, or on the machine,
    /// and checks the combinations.
    pub fn resolve(store: StoreOptions, serve: ServeOptions) -> Result<Self, ConfigError> {
        let database_url = store.database_url.unwrap_or_else(|| {
            let file = store.data_dir.join("jwtd.db");
            ServiceUrl::from(format!("sqlite://{}", file.display()).as_str())
        });
        let cluster = database_url.is_postgres();
        if serve.redis_url.is_some() && !cluster {
            return Err(ConfigError::new(
                "redis_url",
                "fan-out is for cluster mode: it needs a postgres:// database_url",
            ));
        }
        // Every instance of a cluster must write and expect the same `iss`;
        // a default derived from each one's listen address would differ.
        let issuer = match (&serve.issuer, cluster) {
            (Some(issuer), _) => issuer.clone(),
            (None, false) => format!("http://{}", serve.listen),
            (None, true) => {
                return Err(ConfigError::new(
                    "issuer",
                    "must be set explicitly in cluster mode (postgres database_url), so all instances agree",
                ));
            }
        };
        let password = PasswordParams {
            memory_kib: serve.argon2_memory_kib,
            iterations: serve.argon2_iterations,
            parallelism: PasswordParams::default().parallelism,
        };
        jwtd_core::password::PasswordHasher::check_params(password)
            .map_err(|e| ConfigError::new("argon2_memory_kib", e.to_string()))?;
        let (max_connections, max_connections_lowered) =
            max_connections(serve.max_connections, fd_allowance())?;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            argon2_concurrency: serve.argon2_concurrency.unwrap_or(cpus),
            data_dir: store.data_dir,
            database_url,
            issuer,
            max_connections,
            max_connections_lowered,
            password,
            serve,
        })
    }

    /// Configuration for tests and benches: the defaults (no environment,
    /// no file), `data_dir`, and port 0.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ConfigError> {
        let cmd = options::command().mut_args(|a| a.env(None::<&'static str>));
        let args = [
            OsString::from("jwtd"),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.as_os_str().to_owned(),
        ];
        let from_clap = |e: clap::Error| {
            ConfigError::from_clap(&e)
                .unwrap_or_else(|| ConfigError::new("defaults", e.to_string()))
        };
        let matches = cmd.try_get_matches_from(args).map_err(from_clap)?;
        let store = StoreOptions::from_arg_matches(&matches).map_err(from_clap)?;
        let serve = ServeOptions::from_arg_matches(&matches).map_err(from_clap)?;
        Self::resolve(store, serve)
    }

    /// Access-token lifetime in whole seconds.
    pub fn access_ttl_secs(&self) -> i64 {
        secs(self.serve.access_ttl)
    }

    /// Refresh-token lifetime in whole seconds.
    pub fn refresh_ttl_secs(&self) -> i64 {
        secs(self.serve.refresh_ttl)
    }

    /// Leeway in whole seconds.
    pub fn leeway_secs(&self) -> i64 {
        secs(self.serve.leeway)
    }
}

/// Default of `max_connections` (SPEC §1).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// File descriptors kept back from connections: the store's pools, the
/// listener, log and database files, Redis, the blocking pool's files.
const RESERVED_FDS: u64 = 256;

/// How many connections the process's file-descriptor limit can hold
/// beside `RESERVED_FDS`; `None` when the limit cannot be read (then
/// nothing is capped).
pub fn fd_allowance() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return None;
    }
    let soft: u64 = soft.parse().ok()?;
    usize::try_from(soft.saturating_sub(RESERVED_FDS)).ok()
}

/// `max_connections`: an explicit value must fit the fd limit (exit 2
/// otherwise: the server would fail at accept instead of refusing
/// cleanly); the default is lowered to fit it.
fn max_connections(
    explicit: Option<usize>,
    allowance: Option<usize>,
) -> Result<(usize, bool), ConfigError> {
    match (explicit, allowance) {
        (Some(n), Some(max)) if n > max => Err(ConfigError::new(
            "max_connections",
            format!("{n} does not fit the open-file limit (at most {max} here; raise `ulimit -n`)"),
        )),
        (Some(n), _) => Ok((n, false)),
        (None, Some(max)) if max < DEFAULT_MAX_CONNECTIONS => Ok((max.max(1), true)),
        (None, _) => Ok((DEFAULT_MAX_CONNECTIONS, false)),
    }
}

/// Whole seconds of a duration, saturating.
pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{LoadError, load};

    fn temp_file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).expect("write the config file");
        (dir, path.display().to_string())
    }

    fn load_err(args: &[&str]) -> ConfigError {
        match load(args.iter().copied()) {
            Err(LoadError::Config(e)) => e,
            Err(LoadError::Usage(e)) => panic!("usage error, not configuration: {e}"),
            Ok(_) => panic!("{args:?} loaded"),
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut c = Config::for_data_dir(dir.path()).expect("defaults load");
        c.serve.admin_token = Some(Secret::from("super-secret-admin-token"));
        c.database_url = ServiceUrl::from("postgres://jwtd:db-password@localhost/jwtd");
        c.serve.redis_url = Some(ServiceUrl::from("redis://:redis-password@localhost"));
        let text = format!("{c:?}");
        for secret in ["super-secret-admin-token", "db-password", "redis-password"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("postgres://jwtd:<redacted>@localhost/jwtd"),
            "{text}"
        );
        assert!(text.contains("admin_token: Some(\"<redacted>\")"), "{text}");
    }

    #[test]
    fn file_is_under_flags_and_names_bad_options() {
        let (_dir, file) = temp_file(
            "access_ttl = \"5m\"\naudience = \"api\"\nlogin_max_failures = 3\ndata_dir = \"/tmp/from-file\"\n",
        );
        let (_, c) = load(["jwtd", "--config", &file, "serve", "--audience", "flag"])
            .expect("the file loads");
        assert_eq!(c.serve.access_ttl, Duration::from_secs(300));
        assert_eq!(c.serve.audience, "flag");
        assert_eq!(c.serve.login_max_failures, 3);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/from-file"));
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        // Other commands see the file's serve options too.
        let (_, c) = load(["jwtd", "--config", &file, "keys", "list"]).expect("the file loads");
        assert_eq!(c.serve.audience, "api");
        assert_eq!(c.leeway_secs(), 30);

        let (_dir, typo) = temp_file("acess_ttl = \"5m\"\n");
        assert_eq!(
            load_err(&["jwtd", "--config", &typo, "serve"]).option,
            "acess_ttl"
        );
        let (_dir, bad) = temp_file("access_ttl = \"soon\"\n");
        let e = load_err(&["jwtd", "--config", &bad, "purge"]);
        assert_eq!(e.option, "access_ttl");
        assert!(e.message.contains("\"soon\""), "{e}");
        let e = load_err(&["jwtd", "serve", "--algorithm", "none"]);
        assert_eq!(e.option, "algorithm");
        let e = load_err(&["jwtd", "serve", "--login-max-failures", "0"]);
        assert_eq!(
            (e.option.as_str(), e.message.as_str()),
            ("login_max_failures", "must be at least 1")
        );
    }

    #[test]
    fn cluster_mode_needs_an_issuer_and_fan_out_needs_a_cluster() {
        let pg = "postgres://postgres@127.0.0.1:1/x";
        assert_eq!(
            load_err(&["jwtd", "serve", "--database-url", pg]).option,
            "issuer"
        );
        let e = load_err(&["jwtd", "serve", "--redis-url", "redis://127.0.0.1:6379"]);
        assert_eq!(e.option, "redis_url");
        let (_, c) = load([
            "jwtd",
            "serve",
            "--database-url",
            pg,
            "--issuer",
            "https://a",
        ])
        .expect("a cluster with an issuer loads");
        assert_eq!(c.issuer, "https://a");
    }

    #[test]
    fn the_fd_limit_caps_the_default_and_refuses_a_larger_explicit_value() {
        assert_eq!(max_connections(None, Some(500)).ok(), Some((500, true)));
        assert_eq!(
            max_connections(None, None).ok(),
            Some((DEFAULT_MAX_CONNECTIONS, false))
        );
        assert_eq!(
            max_connections(Some(400), Some(500)).ok(),
            Some((400, false))
        );
        let e = max_connections(Some(600), Some(500))
            .err()
            .map(|e| e.option);
        assert_eq!(e.as_deref(), Some("max_connections"));
    }

    #[test]
    fn argon2_defaults_are_the_production_parameters() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let c = Config::for_data_dir(dir.path()).expect("defaults load");
        assert_eq!(c.password, PasswordParams::default());
    }
}
