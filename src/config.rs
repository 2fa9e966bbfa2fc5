//! Configuration: raw values from flags, `JWTD_*` env vars and a TOML file,
//! validated once into a [`Config`] with rich types.
//!
//! Precedence is flag > env > file > default. clap already merges flag and
//! env; this module lays the file and the defaults under them. Every value
//! travels as text until validation so that each error names its option.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jwtd_core::keys::Algorithm;
use jwtd_core::password::PasswordParams;

use crate::cli::{CommonArgs, ServeArgs};

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
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated configuration. Its `Debug` hides the admin token and
/// any password in the database or Redis URL, so logging a config (or a
/// panic message that prints one) leaks no secret.
#[derive(Clone)]
pub struct Config {
    /// Address to serve on (port 0 picks a free port, as tests do).
    pub listen: SocketAddr,
    /// Where the embedded database lives.
    pub data_dir: PathBuf,
    /// `sqlite://…` (or, in cluster mode, `postgres://…`).
    pub database_url: String,
    /// Redis for cross-instance fan-out.
    pub redis_url: Option<String>,
    /// Redis pub/sub channel of this cluster's events.
    pub redis_channel: String,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Algorithm of newly generated signing keys.
    pub algorithm: Algorithm,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime from its issue.
    pub refresh_ttl: Duration,
    /// Grace for re-presenting the previous refresh token.
    pub refresh_reuse_grace: Duration,
    /// Failed logins per (username, IP) within the window before 429.
    pub login_max_failures: u32,
    /// Window for counting failed logins.
    pub login_failure_window: Duration,
    /// Clock-skew allowance.
    pub leeway: Duration,
    /// Admin bearer secret; `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Whether `POST /register` is open.
    pub open_registration: bool,
    /// Cluster mode staleness bound.
    pub max_staleness: Duration,
    /// How long requests in flight may finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// A request's head must arrive within this of its first byte.
    pub header_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout: Duration,
    /// Concurrent connections at most.
    pub max_connections: usize,
    /// Set when the default `max_connections` was lowered to fit the file
    /// descriptor limit (the server warns at start).
    pub max_connections_lowered: bool,
    /// argon2id cost.
    pub password: PasswordParams,
    /// Concurrent password hashes at most (each takes `memory_kib`).
    pub argon2_concurrency: usize,
    /// Period of the purge of expired state.
    pub purge_interval: Duration,
    /// Log format.
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_channel", &self.redis_channel)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithm", &self.algorithm)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("refresh_reuse_grace", &self.refresh_reuse_grace)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_failure_window", &self.login_failure_window)
            .field("leeway", &self.leeway)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("open_registration", &self.open_registration)
            .field("max_staleness", &self.max_staleness)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("password", &self.password)
            .field("argon2_concurrency", &self.argon2_concurrency)
            .field("purge_interval", &self.purge_interval)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// A URL with the password of its userinfo (`scheme://user:password@…`)
/// replaced.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>{host}"),
        None => url.to_owned(),
    }
}

/// Every key a config file may hold.
const FILE_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "redis_url",
    "redis_channel",
    "issuer",
    "audience",
    "algorithm",
    "access_ttl",
    "refresh_ttl",
    "refresh_reuse_grace",
    "login_max_failures",
    "login_failure_window",
    "leeway",
    "admin_token",
    "open_registration",
    "max_staleness",
    "shutdown_grace",
    "header_read_timeout",
    "idle_timeout",
    "max_connections",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_concurrency",
    "purge_interval",
    "log_format",
];

/// Raw text values, flag/env first, then the file.
struct Raw {
    file: toml::Table,
}

impl Raw {
    fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self {
                file: toml::Table::new(),
            });
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("config", format!("{}: {e}", path.display())))?;
        let file: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))?;
        if let Some(k) = file.keys().find(|k| !FILE_KEYS.contains(&k.as_str())) {
            return Err(ConfigError::new(k.clone(), "unknown option in config file"));
        }
        Ok(Self { file })
    }

    /// The value of `name`: `cli` (flag or env) if given, else the file's.
    fn get(&self, name: &str, cli: &Option<String>) -> Result<Option<String>, ConfigError> {
        if let Some(v) = cli {
            return Ok(Some(v.clone()));
        }
        match self.file.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(toml::Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ConfigError::new(
                name,
                "expected a string, number or boolean",
            )),
        }
    }

    fn parse<T>(
        &self,
        name: &str,
        cli: &Option<String>,
        default: T,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name, cli)? {
            None => Ok(default),
            Some(v) => f(v.trim()).map_err(|m| ConfigError::new(name, m)),
        }
    }
}

/// Parses durations like `15m`, `2s`, `30d`, `1h`, `250ms`.
pub use jwtd_core::duration::parse as parse_duration;

fn at_least_one_second(d: Duration) -> Result<Duration, String> {
    if d < Duration::from_secs(1) {
        Err("must be at least 1s (tokens count whole seconds)".into())
    } else {
        Ok(d)
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a valid number"))
}

impl Config {
    /// Builds the configuration of any command from its arguments, the
    /// environment (already merged by clap) and the optional config file.
    pub fn load(common: &CommonArgs, serve: &ServeArgs) -> Result<Self, ConfigError> {
        let raw = Raw::load(common.config.as_deref())?;
        let data_dir_text = common.data_dir.as_ref().map(|p| p.display().to_string());
        let data_dir = raw.parse(
            "data_dir",
            &data_dir_text,
            PathBuf::from("./jwtd-data"),
            |s| Ok(PathBuf::from(s)),
        )?;
        let default_db = format!("sqlite://{}", data_dir.join("jwtd.db").display());
        let database_url = raw.parse("database_url", &common.database_url, default_db, |s| {
            if ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| s.starts_with(p))
            {
                Ok(s.to_owned())
            } else {
                Err(format!("{s:?} is not a sqlite:// or postgres:// URL"))
            }
        })?;
        let listen = raw.parse(
            "listen",
            &serve.listen,
            ([127, 0, 0, 1], 8080).into(),
            |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| format!("{s:?} is not an address like 127.0.0.1:8080"))
            },
        )?;
        let cluster = database_url.starts_with("postgres");
        let redis_url = raw.parse("redis_url", &serve.redis_url, None, |s| {
            if !(s.starts_with("redis://") || s.starts_with("rediss://")) {
                Err(format!("{s:?} is not a redis:// URL"))
            } else if !cluster {
                Err("fan-out is for cluster mode: it needs a postgres:// database_url".into())
            } else {
                Ok(Some(s.to_owned()))
            }
        })?;
        let redis_channel = raw.parse(
            "redis_channel",
            &serve.redis_channel,
            "jwtd:events".to_owned(),
            |s| {
                if s.is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(s.to_owned())
                }
            },
        )?;
        // Every instance of a cluster must write and expect the same `iss`;
        // a default derived from each one's listen address would differ.
        if cluster && raw.get("issuer", &serve.issuer)?.is_none() {
            return Err(ConfigError::new(
                "issuer",
                "must be set explicitly in cluster mode (postgres database_url), so all instances agree",
            ));
        }
        let issuer = raw.parse("issuer", &serve.issuer, format!("http://{listen}"), |s| {
            if s.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(s.to_owned())
            }
        })?;
        let audience = raw.parse("audience", &serve.audience, "jwtd".to_owned(), |s| {
            if s.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(s.to_owned())
            }
        })?;
        let algorithm = raw.parse("algorithm", &serve.algorithm, Algorithm::EdDSA, |s| {
            s.parse::<Algorithm>().map_err(|e| e.to_string())
        })?;
        let dur = |name: &str, cli: &Option<String>, default: u64| {
            raw.parse(name, cli, Duration::from_secs(default), parse_duration)
        };
        let ttl = |name: &str, cli: &Option<String>, default: u64| {
            raw.parse(name, cli, Duration::from_secs(default), |s| {
                parse_duration(s).and_then(at_least_one_second)
            })
        };
        let defaults = PasswordParams::default();
        let password = PasswordParams {
            memory_kib: raw.parse(
                "argon2_memory_kib",
                &serve.argon2_memory_kib,
                defaults.memory_kib,
                parse_num,
            )?,
            iterations: raw.parse(
                "argon2_iterations",
                &serve.argon2_iterations,
                defaults.iterations,
                parse_num,
            )?,
            parallelism: defaults.parallelism,
        };
        jwtd_core::password::PasswordHasher::check_params(password)
            .map_err(|e| ConfigError::new("argon2_memory_kib", e.to_string()))?;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (max_connections, max_connections_lowered) = max_connections(&raw, serve)?;
        let positive = |name: &str, cli: &Option<String>, default: u64| {
            raw.parse(name, cli, Duration::from_secs(default), |s| {
                parse_duration(s).and_then(|d| {
                    if d.is_zero() {
                        Err("must be more than 0".into())
                    } else {
                        Ok(d)
                    }
                })
            })
        };
        let admin_token = raw.get("admin_token", &serve.admin_token)?;
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::new(
                "admin_token",
                "must be at least 16 characters",
            ));
        }
        Ok(Self {
            listen,
            data_dir,
            database_url,
            redis_url,
            redis_channel,
            issuer,
            audience,
            algorithm,
            access_ttl: ttl("access_ttl", &serve.access_ttl, 15 * 60)?,
            refresh_ttl: ttl("refresh_ttl", &serve.refresh_ttl, 30 * 86_400)?,
            refresh_reuse_grace: dur("refresh_reuse_grace", &serve.refresh_reuse_grace, 10)?,
            login_max_failures: raw.parse(
                "login_max_failures",
                &serve.login_max_failures,
                5,
                |s| match parse_num::<u32>(s)? {
                    0 => Err("must be at least 1".into()),
                    n => Ok(n),
                },
            )?,
            login_failure_window: ttl(
                "login_failure_window",
                &serve.login_failure_window,
                15 * 60,
            )?,
            leeway: dur("leeway", &serve.leeway, 30)?,
            admin_token,
            open_registration: raw.parse(
                "open_registration",
                &serve.open_registration,
                true,
                parse_bool,
            )?,
            max_staleness: ttl("max_staleness", &serve.max_staleness, 5)?,
            shutdown_grace: dur("shutdown_grace", &serve.shutdown_grace, 10)?,
            header_read_timeout: positive("header_read_timeout", &serve.header_read_timeout, 10)?,
            idle_timeout: positive("idle_timeout", &serve.idle_timeout, 60)?,
            max_connections,
            max_connections_lowered,
            password,
            argon2_concurrency: raw.parse(
                "argon2_concurrency",
                &serve.argon2_concurrency,
                cpus,
                |s| match parse_num::<usize>(s)? {
                    0 => Err("must be at least 1".into()),
                    n => Ok(n),
                },
            )?,
            purge_interval: ttl("purge_interval", &serve.purge_interval, 60)?,
            log_format: raw.parse(
                "log_format",
                &serve.log_format,
                LogFormat::Text,
                |s| match s {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err(format!("{s:?} is not text or json")),
                },
            )?,
        })
    }

    /// Configuration for tests: defaults, a temp data dir, port 0.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ConfigError> {
        let common = CommonArgs {
            data_dir: Some(data_dir.to_path_buf()),
            ..CommonArgs::default()
        };
        let serve = ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            ..ServeArgs::default()
        };
        Self::load(&common, &serve)
    }

    /// Access-token lifetime in whole seconds.
    pub fn access_ttl_secs(&self) -> i64 {
        secs(self.access_ttl)
    }

    /// Refresh-token lifetime in whole seconds.
    pub fn refresh_ttl_secs(&self) -> i64 {
        secs(self.refresh_ttl)
    }

    /// Leeway in whole seconds.
    pub fn leeway_secs(&self) -> i64 {
        secs(self.leeway)
    }
}

/// Default of `max_connections` (SPEC §1).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// File descriptors kept back from connections: the store's pools, the
/// listener, log and database files, Redis, the blocking pool's files.
const RESERVED_FDS: u64 = 256;

/// How many connections the process's file-descriptor limit can hold
/// beside [`RESERVED_FDS`]; `None` when the limit cannot be read (then
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
fn max_connections(raw: &Raw, serve: &ServeArgs) -> Result<(usize, bool), ConfigError> {
    let allowance = fd_allowance();
    let explicit = raw.parse(
        "max_connections",
        &serve.max_connections,
        None,
        |s| match parse_num::<usize>(s)? {
            0 => Err("must be at least 1".into()),
            n => Ok(Some(n)),
        },
    )?;
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

    #[test]
    fn debug_output_hides_secrets() {
        let dir = std::env::temp_dir().join(format!("jwtd-dbg-{}", std::process::id()));
        let mut c = Config::for_data_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        c.admin_token = Some("super-secret-admin-token".into());
        c.database_url = "postgres://jwtd:db-password@localhost/jwtd".into();
        c.redis_url = Some("redis://:redis-password@localhost".into());
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
        let dir = std::env::temp_dir().join(format!("jwtd-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "access_ttl = \"5m\"\naudience = \"api\"\nlogin_max_failures = 3\n",
        )
        .ok();
        let common = CommonArgs {
            config: Some(file.clone()),
            ..CommonArgs::default()
        };
        let serve = ServeArgs {
            audience: Some("flag".into()),
            ..ServeArgs::default()
        };
        let c = Config::load(&common, &serve).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.access_ttl, Duration::from_secs(300));
        assert_eq!(c.audience, "flag");
        assert_eq!(c.login_max_failures, 3);
        assert_eq!(c.issuer, "http://127.0.0.1:8080");

        std::fs::write(&file, "acess_ttl = \"5m\"\n").ok();
        let e = Config::load(&common, &ServeArgs::default()).err();
        assert_eq!(e.map(|e| e.option), Some("acess_ttl".to_owned()));
        let bad = ServeArgs {
            algorithm: Some("none".into()),
            ..ServeArgs::default()
        };
        let e = Config::load(&CommonArgs::default(), &bad).err();
        assert_eq!(e.map(|e| e.option), Some("algorithm".to_owned()));
        std::fs::remove_dir_all(&dir).ok();
    }
}
