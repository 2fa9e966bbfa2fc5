//! Spawns the real server on port 0 with a temp data dir, and talks to it
//! over HTTP like a client would.

use std::path::PathBuf;

use jwtd::app::{App, AppState};
use jwtd::config::Config;
use jwtd::core::claims::AccessClaims;
use jwtd::core::clock::Clock;
use jwtd::core::id::Id128;
use jwtd::core::keys::{Algorithm, KeyMaterial, SigningKey};
use jwtd::core::password::PasswordParams;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Argon2 cost for tests: configurable exactly like production, just lower,
/// so the suite spends its time on behaviour rather than on hashing.
pub const TEST_PASSWORD_PARAMS: PasswordParams = PasswordParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// Issuer of every test server, fixed so the CLI (run as a separate
/// process with `JWTD_ISSUER`) agrees with the server it shares a dir with.
pub const ISSUER: &str = "http://jwtd.test";

/// Admin token of every test server.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Default password used by helpers.
pub const PASSWORD: &str = "correct horse battery";

/// A running server.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A login's tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session: String,
}

impl Tokens {
    fn from_body(v: &Value) -> Self {
        Self {
            access: v["access_token"].as_str().unwrap_or_default().to_owned(),
            refresh: v["refresh_token"].as_str().unwrap_or_default().to_owned(),
            session: v["session_id"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// A test config in a fresh temp dir.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::for_data_dir(dir).unwrap_or_else(|e| panic!("{e}"));
    c.password = TEST_PASSWORD_PARAMS;
    c.issuer = ISSUER.into();
    c.serve.admin_token = Some(ADMIN_TOKEN.into());
    c
}

impl TestApp {
    /// Default config, system clock.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Config adjusted by `f`, system clock.
    pub async fn spawn_with(f: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = test_config(dir.path());
        f(&mut config);
        Self::start(dir, config, Clock::system()).await
    }

    /// Starts a server on `dir` with `config` and `clock`.
    pub async fn start(dir: tempfile::TempDir, config: Config, clock: Clock) -> Self {
        let app = App::build(config, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let addr = app.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = app.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        Self {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            state,
            clock,
            dir,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the server and returns its data dir, for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.state.store.close().await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn register(&self, username: &str) -> Value {
        let r = self
            .post_json(
                "/register",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {username}");
        r.json().await.unwrap_or_default()
    }

    pub async fn login(&self, username: &str) -> Tokens {
        let r = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        Tokens::from_body(&r.json().await.unwrap_or_default())
    }

    /// Registers `username` and logs in once.
    pub async fn user(&self, username: &str) -> Tokens {
        self.register(username).await;
        self.login(username).await
    }

    pub async fn refresh(&self, refresh: &str) -> (StatusCode, Option<Tokens>) {
        let r = self
            .post_json("/token/refresh", json!({"refresh_token": refresh}))
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        (
            status,
            (status == StatusCode::OK).then(|| Tokens::from_body(&body)),
        )
    }

    pub async fn logout(&self, access: &str, scope: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}/logout?scope={scope}", self.url))
            .bearer_auth(access)
            .send()
            .await
            .unwrap_or_else(|e| panic!("logout: {e}"));
        (r.status(), r.json().await.unwrap_or_default())
    }

    /// POST a form, optionally with a bearer token.
    pub async fn post_form(
        &self,
        path: &str,
        bearer: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.url)).form(form);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// POST with the admin token and no body.
    pub async fn admin_post(&self, path: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// GET with the admin token.
    pub async fn admin_get(&self, path: &str) -> Response {
        self.get_auth(path, ADMIN_TOKEN).await
    }

    /// Runs the jwtd binary on this server's data dir, as an operator would.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.data_dir(), args, stdin)
    }

    /// `GET /.well-known/jwks.json`, asserting 200.
    pub async fn jwks(&self) -> Value {
        let r = self
            .client
            .get(format!("{}/.well-known/jwks.json", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("jwks: {e}"));
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap_or_default()
    }

    /// Status of `GET /protected` with `token`.
    pub async fn protected(&self, token: &str) -> StatusCode {
        self.get_auth("/protected", token).await.status()
    }

    /// The active signing key, read from the store as an attacker with a
    /// copy of the database could, to forge tokens with chosen claims.
    pub async fn active_key(&self) -> KeyMaterial {
        let keys = self.state.store.keys().await.unwrap_or_default();
        keys.into_iter()
            .rev()
            .find(|k| k.is_active())
            .map(|k| k.material)
            .unwrap_or_else(|| panic!("no active key"))
    }

    /// Claims like the server's own, for `sub`, valid now.
    pub fn claims(&self, sub: &str) -> AccessClaims {
        let now = self.clock.now();
        AccessClaims {
            iss: self.state.config.issuer.clone(),
            sub: sub.into(),
            aud: self.state.config.serve.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: Id128::random().to_string(),
            sid: Id128::random().to_string(),
            preferred_username: sub.into(),
        }
    }
}

/// Signs `header` (raw JSON) and `claims` with `key`: a token the server did
/// not issue but whose signature may well be valid.
pub fn sign_raw(key: &KeyMaterial, header: &str, claims: &Value) -> String {
    use jwtd::core::b64;
    let signer = SigningKey::from_material(key).unwrap_or_else(|e| panic!("{e}"));
    let input = format!(
        "{}.{}",
        b64::encode(header),
        b64::encode(serde_json::to_vec(claims).unwrap_or_default())
    );
    let sig = signer.sign(input.as_bytes()).unwrap_or_default();
    format!("{input}.{}", b64::encode(sig))
}

/// The header the server itself writes for `key`.
pub fn header_for(key: &KeyMaterial) -> String {
    format!(
        r#"{{"alg":"{}","typ":"at+jwt","kid":"{}"}}"#,
        key.alg, key.kid
    )
}

/// An HS256 "key" whose secret is `secret`, with the given kid.
pub fn hmac_key(kid: &str, secret: &[u8]) -> KeyMaterial {
    KeyMaterial {
        kid: kid.into(),
        alg: Algorithm::HS256,
        private: secret.to_vec(),
        public: vec![],
    }
}

/// `jwtd serve` options every test server of the real binary shares: the
/// test issuer and admin token, and argon2 at the given cost.
pub fn server_args(argon2_memory_kib: &str, argon2_iterations: &str) -> Vec<String> {
    [
        "--issuer",
        ISSUER,
        "--admin-token",
        ADMIN_TOKEN,
        "--argon2-memory-kib",
        argon2_memory_kib,
        "--argon2-iterations",
        argon2_iterations,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    let (h, _) = jwtd::core::token::decode_unverified(token).unwrap_or_default();
    h["kid"].as_str().unwrap_or_default().to_owned()
}

/// Reads a JSON body.
pub async fn body(r: Response) -> Value {
    r.json().await.unwrap_or_default()
}

/// Path of the jwtd binary the tests run: the one cargo built for them, or
/// `JWTD_BIN` (a long torture run takes a copy, so rebuilding meanwhile
/// cannot swap the binary under its restarts; or a release build).
pub fn jwtd_bin() -> String {
    std::env::var("JWTD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_jwtd").to_owned())
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What a CLI run printed and returned.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `jwtd ARGS --data-dir DIR`, with the test issuer and argon2 cost.
pub fn run_cli(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> CliOutput {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(jwtd_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("JWTD_ISSUER", ISSUER)
        .env("JWTD_ARGON2_MEMORY_KIB", "1024")
        .env("JWTD_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn jwtd: {e}"));
    if let (Some(mut input), Some(s)) = (child.stdin.take(), stdin) {
        let _ = input.write_all(s.as_bytes());
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `token` with one character changed in the middle of its signature: still
/// well-formed base64url, so the signature check itself must reject it.
pub fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The real jwtd binary serving on a free loopback port, SIGKILLed on drop.
pub struct Binary {
    pub child: tokio::process::Child,
    pub url: String,
}

impl Binary {
    /// `jwtd serve --listen 127.0.0.1:<free port> ARGS` with `envs`, once
    /// `/healthz` answers. `stderr` says where its logs go.
    pub async fn start(args: &[&str], envs: &[(&str, &str)], stderr: std::process::Stdio) -> Self {
        let port = free_port();
        let child = tokio::process::Command::new(jwtd_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn jwtd: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while client.get(format!("{url}/healthz")).send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "jwtd did not start");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    /// SIGKILL: no shutdown hook, no flush, nothing graceful.
    pub async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }
}

/// POSTs JSON with a plain client and returns the JSON answer (or null).
pub async fn post_value(c: &reqwest::Client, url: &str, body: &Value) -> Value {
    c.post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .json()
        .await
        .unwrap_or_default()
}
