//! What a verifier connects to and how strictly it checks.

use std::time::Duration;

/// How the verifier authenticates to jwtd's revocation feed.
#[derive(Clone)]
pub enum Credentials {
    /// A registered client with the `feed` right (`jwtd client add NAME
    /// --feed`), sent as HTTP Basic.
    Client {
        /// `client_id`.
        id: String,
        /// `client_secret`.
        secret: String,
    },
    /// jwtd's admin token (works, but gives the service far more power
    /// than reading the feed needs).
    AdminToken(String),
}

impl Credentials {
    /// A registered client.
    pub fn client(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::Client {
            id: id.into(),
            secret: secret.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client { id, .. } => write!(f, "Client({id})"),
            Self::AdminToken(_) => f.write_str("AdminToken(..)"),
        }
    }
}

/// Options of a [`crate::Verifier`].
#[derive(Clone, Debug)]
pub struct Options {
    /// jwtd's base URL (`http://127.0.0.1:8080`).
    pub url: String,
    /// Expected `iss`: jwtd's configured issuer.
    pub issuer: String,
    /// Expected `aud`: jwtd's configured audience.
    pub audience: String,
    /// Who reads the revocation feed.
    pub credentials: Option<Credentials>,
    /// How long without news from jwtd before requests fail closed (503).
    pub max_staleness: Duration,
    /// Clock-skew allowance for `exp`/`nbf`/`iat`.
    pub leeway: Duration,
    /// At most one JWKS refetch per this, however many unknown `kid`s
    /// arrive: an attacker's random kids must not become a flood at jwtd.
    pub jwks_cooldown: Duration,
    /// Memory budget of the verified-token cache (0: none).
    pub cache_bytes: usize,
    /// Timeout of each snapshot and JWKS request.
    pub request_timeout: Duration,
}

impl Options {
    /// Defaults (SPEC §7): `max_staleness` 5 s, leeway 30 s, a JWKS
    /// cooldown of 10 s, the server's default cache budget.
    pub fn new(
        url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            issuer: issuer.into(),
            audience: audience.into(),
            credentials: None,
            max_staleness: Duration::from_secs(5),
            leeway: Duration::from_secs(30),
            jwks_cooldown: Duration::from_secs(10),
            cache_bytes: jwtd_core::verifier::DEFAULT_CACHE_BYTES,
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the feed credentials.
    #[must_use]
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// Sets `max_staleness`.
    #[must_use]
    pub fn max_staleness(mut self, d: Duration) -> Self {
        self.max_staleness = d;
        self
    }

    /// Sets the JWKS refetch cooldown.
    #[must_use]
    pub fn jwks_cooldown(mut self, d: Duration) -> Self {
        self.jwks_cooldown = d;
        self
    }
}
