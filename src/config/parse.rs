//! Value parsers of the options, one per kind of value. clap runs them on
//! flags, environment variables and config-file values alike, so a value
//! means the same and fails the same wherever it is written. Each error is
//! a sentence naming the value; the caller adds the option.

use std::net::SocketAddr;
use std::time::Duration;

use jwtd_core::keys::Algorithm;

/// A secret option (the admin token): `Debug` never shows it, so a logged
/// configuration or a panic message leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// A database or Redis URL: `Debug` and `Display` hide the password of its
/// userinfo (`scheme://user:password@…`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// The whole URL, password included, for the client that connects.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the URL names PostgreSQL (cluster mode).
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// Whether the URL names an SQLite file (embedded mode).
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl From<&str> for ServiceUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let redacted = url.split_once("://").and_then(|(scheme, rest)| {
            let (userinfo, host) = rest.split_at(rest.find('@')?);
            let (user, _) = userinfo.split_once(':')?;
            Some(format!("{scheme}://{user}:<redacted>{host}"))
        });
        f.write_str(redacted.as_deref().unwrap_or(url))
    }
}

impl std::fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
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

/// `text` or `json`.
pub fn log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        s => Err(format!("{s:?} is not text or json")),
    }
}

/// An address like `127.0.0.1:8080`.
pub fn address(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    s.parse()
        .map_err(|_| format!("{s:?} is not an address like 127.0.0.1:8080"))
}

/// A duration like `15m`, `2s`, `30d`, `1h`, `250ms`.
pub fn duration(s: &str) -> Result<Duration, String> {
    jwtd_core::duration::parse(s.trim())
}

/// A duration of at least a second: tokens count whole seconds.
pub fn ttl(s: &str) -> Result<Duration, String> {
    match duration(s)? {
        d if d < Duration::from_secs(1) => {
            Err("must be at least 1s (tokens count whole seconds)".into())
        }
        d => Ok(d),
    }
}

/// A duration of more than nothing (a timeout of 0 would cut every
/// connection).
pub fn timeout(s: &str) -> Result<Duration, String> {
    match duration(s)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

/// A size in bytes: a whole number with an optional unit (`KiB`, `MiB`,
/// `GiB`; `k`, `M`, `G` mean the same), e.g. `128MiB`.
pub fn bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 128MiB"))?;
    let shift = match unit {
        "" | "B" => 0,
        "k" | "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return Err(format!("{s:?} has an unknown unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A whole number.
pub fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let s = s.trim();
    s.parse()
        .map_err(|_| format!("{s:?} is not a valid number"))
}

/// A whole number of at least 1.
pub fn count<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        n if n < T::from(1) => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        s => Err(format!("{s:?} is not true or false")),
    }
}

/// Text that must not be empty.
pub fn text(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("must not be empty".into()),
        s => Ok(s.to_owned()),
    }
}

/// A signing algorithm name.
pub fn algorithm(s: &str) -> Result<Algorithm, String> {
    s.trim().parse::<Algorithm>().map_err(|e| e.to_string())
}

/// The admin bearer secret: long enough that guessing it is hopeless.
pub fn admin_token(s: &str) -> Result<Secret, String> {
    if s.len() < 16 {
        Err("must be at least 16 characters".into())
    } else {
        Ok(Secret(s.to_owned()))
    }
}

/// `sqlite://…` or `postgres://…`.
pub fn database_url(s: &str) -> Result<ServiceUrl, String> {
    let url = ServiceUrl(s.trim().to_owned());
    if url.is_sqlite() || url.is_postgres() {
        Ok(url)
    } else {
        Err(format!("{:?} is not a sqlite:// or postgres:// URL", url.0))
    }
}

/// `redis://…` or `rediss://…`.
pub fn redis_url(s: &str) -> Result<ServiceUrl, String> {
    let s = s.trim();
    if s.starts_with("redis://") || s.starts_with("rediss://") {
        Ok(ServiceUrl(s.to_owned()))
    } else {
        Err(format!("{s:?} is not a redis:// URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_hide_their_password() {
        let url = ServiceUrl::from("postgres://jwtd:db-password@localhost/jwtd");
        assert_eq!(url.to_string(), "postgres://jwtd:<redacted>@localhost/jwtd");
        assert_eq!(url.as_str(), "postgres://jwtd:db-password@localhost/jwtd");
        let bare = ServiceUrl::from("redis://localhost:6379");
        assert_eq!(bare.to_string(), "redis://localhost:6379");
        assert_eq!(format!("{:?}", Secret::from("x")), "\"<redacted>\"");
    }

    #[test]
    fn numbers_and_durations_name_the_bad_value() {
        assert_eq!(count::<u32>("0"), Err("must be at least 1".to_owned()));
        assert_eq!(count::<usize>(" 7 "), Ok(7));
        assert!(number::<u32>("x").is_err_and(|e| e.contains("\"x\"")));
        assert!(ttl("500ms").is_err());
        assert!(timeout("0s").is_err());
        assert_eq!(boolean("off"), Ok(false));
        assert!(admin_token("short").is_err());
        assert_eq!(bytes("128MiB"), Ok(128 << 20));
        assert_eq!(bytes("0"), Ok(0));
        assert_eq!(bytes("64k"), Ok(64 << 10));
        assert!(bytes("12 parsecs").is_err() && bytes("MiB").is_err());
    }
}
