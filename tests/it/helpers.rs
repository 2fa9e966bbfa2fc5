//! Spawns the real server on port 0 with a temp data dir, and talks to it
//! over HTTP like a client would.

use std::path::PathBuf;

use jwtd::app::App;
use jwtd::config::Config;
use jwtd::core::claims::AccessClaims;
use jwtd::core::clock::Clock;
use jwtd::core::id::Id128;
use jwtd::core::keys::{Algorithm, KeyMaterial, SigningKey};
use jwtd::core::password::PasswordParams;
use jwtd::state::AppState;
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
            access: v["access_token"]
                .as_str()
                .expect("access_token is a string")
                .to_owned(),
            refresh: v["refresh_token"]
                .as_str()
                .expect("refresh_token is a string")
                .to_owned(),
            session: v["session_id"]
                .as_str()
                .expect("session_id is a string")
                .to_owned(),
        }
    }
}

/// A test config in a fresh temp dir.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::for_data_dir(dir).expect("for_data_dir succeeds");
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
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = test_config(dir.path());
        f(&mut config);
        Self::start(dir, config, Clock::system()).await
    }

    /// Starts a server on `dir` with `config` and `clock`.
    pub async fn start(dir: tempfile::TempDir, config: Config, clock: Clock) -> Self {
        let app = App::build(config, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let addr = app.local_addr().expect("a local address");
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
        let dir = tempfile::tempdir().expect("a temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// One purge, as the sweeper makes it.
    pub async fn purge(&self) {
        let policy = jwtd::sweeper::Policy::of(&self.state.config);
        jwtd::sweeper::purge_once(&self.state.follower(), &policy).await;
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
        r.json().await.expect("a JSON body")
    }

    pub async fn login(&self, username: &str) -> Tokens {
        let r = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        Tokens::from_body(&r.json().await.expect("a JSON body"))
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
        let body: Value = r.json().await.expect("a JSON body");
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
        (r.status(), r.json().await.expect("a JSON body"))
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

    /// Two emergency rotations: the first promotes the next key, which
    /// every instance published at start; the second, its successor, which
    /// none has seen, so it signs before anyone could have cached it.
    pub async fn rotate_to_an_unseen_key(&self) {
        for _ in 0..2 {
            let r = self.admin_post("/admin/keys/rotate?immediate=true").await;
            assert_eq!(r.status(), StatusCode::OK);
        }
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
        r.json().await.expect("a JSON body")
    }

    /// Status of `GET /protected` with `token`.
    pub async fn protected(&self, token: &str) -> StatusCode {
        self.get_auth("/protected", token).await.status()
    }

    /// The active signing key, read from the store as an attacker with a
    /// copy of the database could, to forge tokens with chosen claims.
    pub async fn active_key(&self) -> KeyMaterial {
        let keys = self.state.store.keys().await.expect("the keys are read");
        let now = self.clock.now();
        keys.into_iter()
            .rev()
            .find(|k| k.signs_at(now))
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
            client_id: "jwtd".into(),
        }
    }
}

/// Signs `header` (raw JSON) and `claims` with `key`: a token the server did
/// not issue but whose signature may well be valid.
pub fn sign_raw(key: &KeyMaterial, header: &str, claims: &Value) -> String {
    use jwtd::core::b64;
    let signer = SigningKey::from_material(key).expect("from_material succeeds");
    let input = format!(
        "{}.{}",
        b64::encode(header),
        b64::encode(serde_json::to_vec(claims).expect("serialises"))
    );
    let sig = signer.sign(input.as_bytes()).expect("signs");
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

/// The claims of a JWS, unverified.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&jwtd::core::b64::decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    let (h, _) = jwtd::core::token::decode_unverified(token).expect("a decodable JWT");
    h["kid"].as_str().expect("kid is a string").to_owned()
}

/// Reads a JSON body.
pub async fn body(r: Response) -> Value {
    r.json().await.expect("a JSON body")
}

/// Path of the jwtd binary the tests run: the one cargo built for them, or
/// `JWTD_BIN` (a long torture run takes a copy, so rebuilding meanwhile
/// cannot swap the binary under its restarts; or a release build).
pub fn jwtd_bin() -> String {
    std::env::var("JWTD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_jwtd").to_owned())
}

/// A port for a server that must be told its port before it starts
/// (Redis, nginx) or must come back on the same one after a restart. It
/// is picked below the kernel's ephemeral range, so no `:0` bind and no
/// outgoing connection of a parallel test can take it between this check
/// and the server's own bind; a process-wide counter keeps this process's
/// picks apart. Servers that can report their port bind `:0` instead.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (low, span) = (10_000u16, ephemeral_low.saturating_sub(10_000).max(1));
    // Start where another run of the suite (another pid) is unlikely to.
    let start = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
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
    let out = child.wait_with_output().expect("wait_with_output succeeds");
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

/// The real jwtd binary serving on a loopback port it picked itself
/// (`:0`, read back from its log), SIGKILLed on drop. Its stderr is read
/// as it is written, so a chatty server never blocks on a full pipe, and
/// the test can look at its logs at any time.
pub struct Binary {
    pub child: tokio::process::Child,
    pub url: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Binary {
    /// `jwtd serve --listen 127.0.0.1:0 ARGS` with `envs`, once `/healthz`
    /// answers.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", args, envs).await
    }

    /// [`Binary::start`] on a given address (a restart that clients must
    /// find where they left it).
    pub async fn start_on(listen: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut cmd = tokio::process::Command::new(jwtd_bin());
        cmd.args(["serve", "--listen", listen])
            .args(args)
            .envs(envs.iter().copied());
        Self::spawn(cmd).await
    }

    /// [`Binary::start`] under a file-creation mask (through `sh`, since
    /// setting a child's umask directly takes `unsafe`).
    pub async fn start_under_umask(umask: &str, args: &[&str]) -> Self {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "umask \"$0\" && exec \"$@\"", umask])
            .arg(jwtd_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        Self::spawn(cmd).await
    }

    /// Runs `cmd` (a jwtd server) until `/healthz` answers.
    async fn spawn(mut cmd: tokio::process::Command) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn jwtd: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (addr_tx, addr_rx) = oneshot::channel();
        let reader = {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                let mut addr_tx = Some(addr_tx);
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("jwtd listening")
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(listening_addr(&line));
                    }
                    let mut logs = logs.lock().expect("the log buffer");
                    logs.push_str(&line);
                    logs.push('\n');
                }
            })
        };
        let addr = tokio::time::timeout(std::time::Duration::from_secs(30), addr_rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "jwtd did not say where it listens: {}",
                    logs.lock().expect("the log buffer")
                )
            });
        let url = format!("http://{addr}");
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while client.get(format!("{url}/healthz")).send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "jwtd did not start");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self {
            child,
            url,
            logs,
            reader,
        }
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("the log buffer").clone()
    }

    /// Waits until the server's stderr is closed (it exited), then returns
    /// all it logged.
    pub async fn all_logs(&mut self) -> String {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.reader).await;
        self.logs()
    }

    /// SIGTERM, and waits for the exit (a graceful stop).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), self.child.wait()).await;
    }

    /// SIGKILL: no shutdown hook, no flush, nothing graceful.
    pub async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `127.0.0.1:PORT` in the "jwtd listening" log line (text or JSON).
fn listening_addr(line: &str) -> Option<String> {
    let at = line.find("127.0.0.1:")?;
    let port: String = line[at + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!port.is_empty()).then(|| format!("127.0.0.1:{port}"))
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
        .expect("a JSON body")
}
